"""`clca translate`: a translation file for another language, made by a teacher model and checked automatically.

Forward translation, back-translation, checks that flag items for review (option count and numbering, kept
placeholders, round-trip chrF of the back-translation against the English original), provenance per item. The
file it writes is refused by `clca.evaluation.language.load_translation` until reviewed, unless the user passes
`allow_unreviewed`.
"""

# The run module is not imported here: `clca` registers this package's CLI at start-up, and the run module pulls
# in pandas through the WVS readers (`from clca.translate.run import translate_bank`).
