"""The networks of the paper: the LSTM language model (generator G_theta, the oracle, the rollout
policy's weights), the CNN discriminator D_phi and the density-ratio D, the oracle's construction,
their likelihoods, and saving and loading their files.
"""
