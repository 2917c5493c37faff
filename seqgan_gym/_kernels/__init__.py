"""How the models are made fast on a CPU: private, and not needed to read the models.

A model says what it computes; a kernel here says how that is made fast (custom autograd with
hand-written backward passes, work split over threads, reused buffers). Each module holds its
kernels beside plain-PyTorch references (``*_reference``: the same thing computed the obvious way),
and tests/test_kernels.py checks every kernel against its reference.

- :mod:`~seqgan_gym._kernels.threads` - independent chunks of work side by side, one torch thread
  each; one thread per operation for loops of small operations (an SB3 update).
- :mod:`~seqgan_gym._kernels.output_layer` - the language model's V-wide output layer: its
  exponentials, the MLE loss with its gradients in the forward pass, the NLL of sequences.
- :mod:`~seqgan_gym._kernels.inverse_cdf` - categorical draws by a two-level inverse CDF, and the
  output layer's draws of :meth:`~seqgan_gym.models.lstm.LSTMLanguageModel.complete`.
- :mod:`~seqgan_gym._kernels.lstm` - ``nn.LSTM`` in training on one CPU thread.
- :mod:`~seqgan_gym._kernels.conv` - the discriminator's convolutions and max-over-time.
- :mod:`~seqgan_gym._kernels.log_prob_entropy` - an SB3 policy's log-probabilities and entropy.
- :mod:`~seqgan_gym._kernels.prefixes` - the fewest prefixes SB3's extractor must read.

Kernels import nothing above :mod:`seqgan_gym.utils` (tests/test_layering.py).
"""
