"""Reply suggestions: text normalizing, key words, the phrase library, matching, customer types, the live engine."""
