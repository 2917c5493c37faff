"""How runs are scored: NLL_oracle, NLL_test, BLEU and Self-BLEU, and whether D's reward carries
signal; scoring sample files from the command line.
"""
