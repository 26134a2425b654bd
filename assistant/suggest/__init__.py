"""Reply suggestions: text normalizing, key words, the phrase library, matching, customer types, the live engine."""

from assistant.suggest.native import use_fresh_builds

use_fresh_builds()  # before any of the package's compiled modules is imported
