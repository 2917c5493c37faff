"""The real data: sequences sampled from the oracle, the text corpora and the Nottingham melodies,
the bundled datasets, and the authors' oracle file.
"""
