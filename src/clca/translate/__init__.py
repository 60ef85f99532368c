"""`clca translate`: a translation file for another language, made by a teacher model and checked automatically.

Forward translation, back-translation, checks that flag items for review (option count and numbering, kept
placeholders, round-trip chrF of the back-translation against the English original), provenance per item. The
file it writes is refused by `clca.evaluation.language.load_translation` until reviewed, unless the user passes
`allow_unreviewed`.
"""

from clca.translate.run import chrf, translate_bank

__all__ = ["chrf", "translate_bank"]
