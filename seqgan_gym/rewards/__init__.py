"""What a finished or partial sequence is worth: the reward models (discriminator, BLEU, oracle
likelihood), the rollout policy beta with its Monte-Carlo search, and the intermediate-reward
strategies the environments shape their step rewards with.
"""
