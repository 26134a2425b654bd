"""The customer-service assistant."""

from assistant.suggest.native import use_fresh_builds

# Before any compiled module is imported (assistant.events among them, which the matcher's package does not import
# first): a build made from other sources must not run.
use_fresh_builds()
