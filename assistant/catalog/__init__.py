"""The product catalog: items, their facts and size charts, and the answers built from them."""
