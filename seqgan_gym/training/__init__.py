"""The updates that pre-train and train the networks: MLE (teacher forcing, scheduled sampling),
the discriminator's epochs on real and generated sequences, and the seeded random streams.
"""
