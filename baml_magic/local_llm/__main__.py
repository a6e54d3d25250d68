"""``python -m baml_magic.local_llm``: run the offline model server in the foreground."""

from baml_magic.local_llm import main

main()
