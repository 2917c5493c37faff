"""The one LSTM language model of the paper, in three roles: oracle, generator, rollout policy.

SeqGAN's synthetic experiment uses the same network shape three times: the "oracle" (the true
distribution, all parameters N(0, 1)), the generator G_theta (parameters N(0, 0.1)) and the rollout
policy G_beta (a delayed copy of G). This module implements that network once.

The cell is the paper's (and the authors' TensorFlow code's) gate form::

    i  = sigmoid(x Wi + h Ui + bi)        f  = sigmoid(x Wf + h Uf + bf)
    o  = sigmoid(x Wo + h Uo + bo)        c~ = tanh(x Wc + h Uc + bc)
    c' = f * c + i * c~                   h' = o * tanh(c')
    logits = h' Wout + bout

which is exactly ``torch.nn.LSTM`` with gates stacked in the order (i, f, c~, o) and the
recurrent bias ``bias_hh`` held at zero (the paper has one bias per gate). ``h0 = c0 = 0`` and the
start token (0) is fed as the first input, so the first generated token is conditioned on it.

Layout convention everywhere: token tensors are ``(batch, T)`` of dtype ``torch.long``.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from seqgan_gym.models.sampling import CPU_CHUNK_ROWS, _block_layout, _draw, exp_logits_
from seqgan_gym.utils import side_by_side, side_by_side_workers, torch_threads

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (batch, hidden_dim)

# nn.LSTM in training on a CPU runs oneDNN's RNN kernel, whose small per-step products run slower
# on several OpenMP threads than on one at these sizes (a mini-batch of sequences x 20 steps x 32
# units): each product is too short to pay for waking the threads. :func:`run_lstm` therefore runs
# it on one thread when it trains on at most this many sequences; the rest of a step (the 5000-way
# output layer) keeps every thread. With several thousand sequences the products are long enough
# for several threads.
_ONE_THREAD_MAX_ROWS = 1024
# :meth:`LSTMLanguageModel.complete` draws chunks side by side (one thread each) only with at least
# this many rows per chunk: below, a thread pool's hand-off costs more than the draw (an env's 64 rows).
_MIN_ROWS_SIDE_BY_SIDE = 256


def run_lstm(lstm: nn.LSTM, inputs: torch.Tensor) -> torch.Tensor:
    """``lstm(inputs)[0]``: the outputs (batch, L, H) of a ``batch_first`` LSTM over (batch, L, E).

    With gradients enabled on a CPU, more than one torch thread and at most ``_ONE_THREAD_MAX_ROWS``
    sequences, the forward and backward passes run on one thread (see above); the values and
    gradients are the same.
    """
    if (inputs.device.type != "cpu" or not torch.is_grad_enabled() or torch.get_num_threads() == 1
            or inputs.shape[0] > _ONE_THREAD_MAX_ROWS):
        return lstm(inputs)[0]
    return _OneThreadLSTM.apply(lstm, inputs, *lstm.parameters())


class _OneThreadLSTM(torch.autograd.Function):
    """``lstm(inputs)[0]`` whose forward and backward run on one torch thread: the forward builds
    the LSTM's own graph on one thread and keeps it; the backward differentiates that graph, on one
    thread, and hands the gradients of ``inputs`` and the parameters on."""

    @staticmethod
    def forward(ctx, lstm, inputs, *params):
        with torch.enable_grad(), torch_threads(1):
            x = inputs.detach().requires_grad_(inputs.requires_grad)
            out = lstm(x)[0]
        ctx.graph = (out, (x, *params))
        return out.detach()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        out, leaves = ctx.graph
        del ctx.graph  # free the inner graph once used
        wanted = [leaf for leaf in leaves if leaf.requires_grad]  # not empty: backward was called
        with torch_threads(1):
            grads = iter(torch.autograd.grad(out, wanted, grad_out))
        return (None, *(next(grads) if leaf.requires_grad else None for leaf in leaves))


class LSTMLanguageModel(nn.Module):
    """An LSTM language model over a vocabulary of ``vocab_size`` token ids.

    :param vocab_size: V, the number of token ids (the paper's synthetic setup: 5000).
    :param seq_len: T, the length of every generated sequence (the paper: 20).
    :param emb_dim: embedding size (the paper: 32).
    :param hidden_dim: LSTM hidden size (the paper: 32).
    :param start_token: the token fed as the first input (the paper: 0).
    :param eos_token: the end-of-sequence id of a variable-length corpus, or None (the synthetic
        setup: every position is a token). When set, "once EOS, always EOS": :meth:`sample` writes
        EOS after a sequence's first EOS, and :meth:`log_prob` (hence MLE, NLL_test and REINFORCE)
        counts positions up to and including the first EOS only (see :meth:`token_mask`).
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        emb_dim: int = 32,
        hidden_dim: int = 32,
        start_token: int = 0,
        eos_token: int | None = None,
    ) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if not 0 <= start_token < vocab_size:
            raise ValueError(f"start_token {start_token} is outside [0, {vocab_size})")
        if eos_token is not None and not 0 <= eos_token < vocab_size:
            raise ValueError(f"eos_token {eos_token} is outside [0, {vocab_size})")
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.emb_dim = emb_dim
        self.hidden_dim = hidden_dim
        self.start_token = start_token
        self.eos_token = eos_token

        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.output = nn.Linear(hidden_dim, vocab_size)
        # The paper's cell has a single bias per gate: keep nn.LSTM's second one at zero, frozen.
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)

    # ------------------------------------------------------------------ initialisation
    def init_normal_(self, std: float, rng: torch.Generator | None = None) -> LSTMLanguageModel:
        """Draw every parameter (embedding, gate weights and biases, output layer) from N(0, std^2).

        The oracle uses std = 1, the generator std = 0.1, as the authors' code. The draws follow
        the paper's array order (see :meth:`load_paper_arrays`) so that a seed means the same
        oracle whatever the tensor layout.
        """
        E, H, V = self.emb_dim, self.hidden_dim, self.vocab_size
        shapes = paper_array_shapes(V, E, H)
        arrays = [torch.randn(s, generator=rng) * std for s in shapes.values()]
        return self.load_paper_arrays(arrays)

    def load_paper_arrays(self, arrays: list) -> LSTMLanguageModel:
        """Set the parameters from the paper's 15 arrays, in the authors' order.

        Order: embedding (V,E), Wi (E,H), Ui (H,H), bi (H), Wf, Uf, bf, Wog, Uog, bog, Wc, Uc, bc,
        Wo (H,V), bo (V). Shapes are checked; the message says what was expected.
        """
        shapes = paper_array_shapes(self.vocab_size, self.emb_dim, self.hidden_dim)
        if len(arrays) != len(shapes):
            raise ValueError(f"expected {len(shapes)} parameter arrays {list(shapes)}, got {len(arrays)}")
        t = {}
        for (name, shape), a in zip(shapes.items(), arrays):
            a = torch.as_tensor(a, dtype=torch.float32)
            if tuple(a.shape) != shape:
                raise ValueError(
                    f"parameter {name}: expected shape {shape}, got {tuple(a.shape)} "
                    f"(vocab_size={self.vocab_size}, emb_dim={self.emb_dim}, hidden_dim={self.hidden_dim})"
                )
            if not torch.isfinite(a).all():
                raise ValueError(f"parameter {name} contains NaN or infinite values")
            t[name] = a
        with torch.no_grad():
            self.embedding.weight.copy_(t["embedding"])
            # nn.LSTM stacks gates (i, f, g=c~, o) along dim 0 of (4H, in) matrices.
            self.lstm.weight_ih_l0.copy_(torch.cat([t["Wi"], t["Wf"], t["Wc"], t["Wog"]], 1).T)
            self.lstm.weight_hh_l0.copy_(torch.cat([t["Ui"], t["Uf"], t["Uc"], t["Uog"]], 1).T)
            self.lstm.bias_ih_l0.copy_(torch.cat([t["bi"], t["bf"], t["bc"], t["bog"]]))
            self.lstm.bias_hh_l0.zero_()
            self.output.weight.copy_(t["Wo"].T)
            self.output.bias.copy_(t["bo"])
        return self

    def paper_arrays(self) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`load_paper_arrays`: the 15 arrays by name, as CPU tensors."""
        H = self.hidden_dim
        w_ih, w_hh = self.lstm.weight_ih_l0.detach().cpu(), self.lstm.weight_hh_l0.detach().cpu()
        b = self.lstm.bias_ih_l0.detach().cpu() + self.lstm.bias_hh_l0.detach().cpu()
        gate = {"i": 0, "f": 1, "c": 2, "og": 3}
        out = {"embedding": self.embedding.weight.detach().cpu()}
        for g in ("i", "f", "og", "c"):
            k = gate[g]
            out[f"W{g}"] = w_ih[k * H : (k + 1) * H].T
            out[f"U{g}"] = w_hh[k * H : (k + 1) * H].T
            out[f"b{g}"] = b[k * H : (k + 1) * H]
        out["Wo"] = self.output.weight.detach().cpu().T
        out["bo"] = self.output.bias.detach().cpu()
        return {name: out[name].contiguous() for name in paper_array_shapes(1, 1, 1)}

    # ------------------------------------------------------------------ one step
    def initial_state(self, batch: int) -> State:
        """Zero (h, c), each (batch, hidden_dim)."""
        p = self.output.weight
        z = torch.zeros(batch, self.hidden_dim, device=p.device, dtype=p.dtype)
        return z, z.clone()

    def start_tokens(self, batch: int) -> torch.Tensor:
        """The first input of every sequence: (batch,) filled with ``start_token``."""
        return torch.full((batch,), self.start_token, dtype=torch.long, device=self.output.weight.device)

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Feed one token per sequence: tokens (batch,) and (h, c) -> logits (batch, V), new (h, c).

        The logits are those of the *next* token. The generator's sampling, the rollout policy's
        Monte-Carlo completions and the environment all advance through this function.
        """
        h, c = self._next_state(tokens, state)
        return self.output(h), (h, c)

    def _next_state(self, tokens: torch.Tensor, state: State) -> State:
        """The LSTM cell alone: tokens (batch,) and (h, c) -> new (h, c); :meth:`step` without
        the output layer (:meth:`complete` applies that itself, in chunks)."""
        h, c = state
        x = self.embedding(tokens)  # (batch, E)
        gates = F.linear(x, self.lstm.weight_ih_l0, self.lstm.bias_ih_l0) + F.linear(
            h, self.lstm.weight_hh_l0, self.lstm.bias_hh_l0
        )  # (batch, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def output_matrix(self, temperature: float = 1.0, n_cols: int | None = None) -> torch.Tensor:
        """The output layer as one detached (H + 1, n_cols) matrix ``[W^T; b] / temperature``.

        ``[h, 1] @ output_matrix()`` gives the logits of :meth:`step` (divided by the
        temperature) in one matmul, without the extra pass ``addmm`` spends writing the broadcast
        bias. ``n_cols`` > V pads with columns of bias -inf: logit -inf, probability exactly 0.
        """
        V = self.vocab_size
        n_cols = V if n_cols is None else n_cols
        if n_cols < V:
            raise ValueError(f"n_cols must be >= vocab_size {V}, got {n_cols}")
        weight = self.output.weight.detach()
        m = weight.new_zeros(self.hidden_dim + 1, n_cols)
        m[:-1, :V] = weight.T
        m[-1, :V] = self.output.bias.detach()
        m[-1, V:] = float("-inf")
        return m if temperature == 1.0 else m.div_(temperature)

    # ------------------------------------------------------------------ whole sequences
    @torch.no_grad()
    def complete(
        self,
        last_tokens: torch.Tensor,
        state: State,
        n_steps: int,
        temperature: float = 1.0,
        rng: torch.Generator | None = None,
        uniforms: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Sample ``n_steps`` more tokens after ``last_tokens`` (batch,) from LSTM state ``state``.

        ``uniforms`` (batch, n_steps) in [0, 1), if given, are the draws to use (column t draws
        token t) instead of ``rng``'s: this is how the Monte-Carlo search pins its draws.

        This is the Monte-Carlo search of the paper: it continues from the prefix's state instead
        of replaying the prefix. Returns the new tokens (batch, n_steps) and the final state.

        Each step draws from ``softmax(step(...) logits / temperature)`` exactly as
        :func:`seqgan_gym.models.sampling.sample_categorical` (one ``torch.rand(batch, 1,
        generator=rng)`` per step), but faster (see the notes in :mod:`seqgan_gym.models.sampling`,
        whose kernels it runs): the LSTM cell runs on the whole
        batch, the output layer and the draw on chunks of rows in one reused buffer, and the
        (batch, V) logits are never materialised. With several torch threads on CPU and at least
        ``2 * _MIN_ROWS_SIDE_BY_SIDE`` rows, the chunks of each step run side by side on one thread
        each (:func:`seqgan_gym.utils.side_by_side`; a batch of one chunk is split in one per
        thread). The draws are the same; only the rows per matrix product change, which can
        round a logit differently and, rarely, move a uniform across an inverse-CDF boundary (see
        :mod:`seqgan_gym.rewards.rollout`): the same threads give the same tokens.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        batch, device, V = last_tokens.shape[0], last_tokens.device, self.vocab_size
        if uniforms is not None and tuple(uniforms.shape) != (batch, n_steps):
            raise ValueError(f"uniforms must have shape ({batch}, {n_steps}), got {tuple(uniforms.shape)}")
        n_blocks, block = _block_layout(V)
        weight1 = self.output_matrix(temperature, n_blocks * block)  # (H + 1, >= V)
        chunk = CPU_CHUNK_ROWS if device.type == "cpu" else max(batch, 1)
        # with several torch threads, chunks side by side on one thread each (at least
        # _MIN_ROWS_SIDE_BY_SIDE rows apiece; a batch of one chunk is split into one per thread)
        workers = side_by_side_workers(device, batch // _MIN_ROWS_SIDE_BY_SIDE)
        chunk = max(1, min(chunk, -(-batch // workers)))
        hidden1 = weight1.new_ones(batch, self.hidden_dim + 1)  # [h, 1]
        bufs = [weight1.new_empty(min(chunk, batch), weight1.shape[1]) for _ in range(workers)]
        # chunk i goes to worker i % workers (side_by_side's split), which owns bufs[i % workers]
        chunks = [(lo, bufs[i % workers]) for i, lo in enumerate(range(0, batch, chunk))]
        out = torch.empty(batch, n_steps, dtype=torch.long, device=device)

        def draw_chunks(t: int, u: torch.Tensor, part: list[tuple[int, torch.Tensor]]) -> None:
            for lo, buf in part:  # token t of rows lo .. lo + chunk - 1, in buf
                hi = min(lo + chunk, batch)
                p, block_sums, _ = exp_logits_(hidden1[lo:hi], weight1, buf[: hi - lo], n_blocks)
                drawn = _draw(p.view(hi - lo, n_blocks, block), block_sums, u[lo:hi])
                out[lo:hi, t] = drawn.clamp_(max=V - 1)

        tokens = last_tokens
        for t in range(n_steps):
            state = self._next_state(tokens, state)
            hidden1[:, :-1] = state[0]
            if uniforms is None:
                u = torch.rand(batch, 1, generator=rng, device=device, dtype=weight1.dtype)
            else:
                u = uniforms[:, t : t + 1].to(weight1.dtype)
            side_by_side(partial(draw_chunks, t, u), chunks, workers)
            tokens = out[:, t]
        return out, state

    @torch.no_grad()
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        rng: torch.Generator | None = None,
        batch_size: int = 16384,
    ) -> torch.Tensor:
        """Sample ``n`` whole sequences, (n, T) long, in batches of ``batch_size``.

        Memory is O(batch_size * H) (the (batch, V) logits are never held whole, see
        :meth:`complete`), so one large batch is the fast choice.
        """
        chunks = []
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            seqs, _ = self.complete(
                self.start_tokens(b), self.initial_state(b), self.seq_len, temperature, rng
            )
            chunks.append(seqs)
        if not chunks:
            return torch.empty(0, self.seq_len, dtype=torch.long, device=self.output.weight.device)
        return self.end_at_eos(torch.cat(chunks))

    # ------------------------------------------------------------------ end of sequence
    def token_mask(self, sequences: torch.Tensor) -> torch.Tensor | None:
        """(batch, T) bool, True at the positions that count: up to and including each row's first
        ``eos_token``. None when the model has no ``eos_token`` (every position counts)."""
        if self.eos_token is None:
            return None
        return eos_token_mask(sequences, self.eos_token)

    def end_at_eos(self, sequences: torch.Tensor) -> torch.Tensor:
        """``sequences`` (batch, T) with every position after a row's first ``eos_token`` set to
        ``eos_token`` (a new tensor); unchanged without an ``eos_token``. Sampling freely and then
        applying this draws exactly from "stop at the first EOS": the tokens it overwrites were
        drawn after the sequence had ended."""
        mask = self.token_mask(sequences)
        if mask is None:
            return sequences
        return sequences.masked_fill(~mask, self.eos_token)

    def logits(self, sequences: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits: sequences (batch, T) -> (batch, T, V).

        Position t holds the logits of token t given the start token and tokens < t.
        """
        return self.output(self.hidden_states(sequences))

    def hidden_states(self, sequences: torch.Tensor) -> torch.Tensor:
        """Teacher-forced LSTM outputs: sequences (batch, T) -> h (batch, T, H).

        Position t has seen the start token and tokens < t; :meth:`logits` applies the output
        layer to these.
        """
        self.check_tokens(sequences)
        inputs = torch.cat([self.start_tokens(sequences.shape[0])[:, None], sequences[:, :-1]], 1)
        return run_lstm(self.lstm, self.embedding(inputs))  # (batch, T, H)

    def log_prob(self, sequences: torch.Tensor) -> torch.Tensor:
        """Per-token log-probabilities log G(y_t | Y_<t): sequences (batch, T) -> (batch, T).

        With an ``eos_token``, positions after a row's first EOS are 0 (the sequence has ended;
        they carry no probability and no gradient)."""
        logp = torch.log_softmax(self.logits(sequences), dim=-1)
        logp = logp.gather(2, sequences.unsqueeze(2)).squeeze(2)
        mask = self.token_mask(sequences)
        return logp if mask is None else logp * mask

    def check_tokens(self, sequences: torch.Tensor) -> None:
        """Raise a clear error unless ``sequences`` is a (batch, T) tensor of ids in [0, V)."""
        check_token_ids(sequences, self.vocab_size)


def eos_token_mask(sequences: torch.Tensor, eos_token: int) -> torch.Tensor:
    """(batch, T) bool: True up to and including the first ``eos_token`` of each row (all True
    for a row without one)."""
    is_eos = (sequences == eos_token).long()
    # tokens strictly before position t that are EOS: 0 means the sequence is still running
    before = is_eos.cumsum(dim=1) - is_eos
    return before == 0


def check_token_ids(sequences: torch.Tensor, vocab_size: int, seq_len: int | None = None) -> None:
    """Raise a clear error unless ``sequences`` is (batch, T) integer ids in [0, vocab_size).

    ``seq_len``, if given, is the T the sequences must have. Shared by every model that reads tokens.
    """
    want_t = "T" if seq_len is None else str(seq_len)
    if sequences.dim() != 2 or (seq_len is not None and sequences.shape[1] != seq_len):
        raise ValueError(f"expected token sequences of shape (batch, {want_t}), got {tuple(sequences.shape)}")
    if sequences.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"expected integer token ids, got dtype {sequences.dtype}")
    if sequences.numel() and (sequences.min() < 0 or sequences.max() >= vocab_size):
        raise ValueError(
            f"token ids out of range: found [{int(sequences.min())}, {int(sequences.max())}], "
            f"vocabulary size is {vocab_size}"
        )


def paper_array_shapes(V: int, E: int, H: int) -> dict[str, tuple[int, ...]]:
    """The 15 parameter arrays of the authors' LSTM, in their pickle's order, with shapes."""
    shapes: dict[str, tuple[int, ...]] = {"embedding": (V, E)}
    for g in ("i", "f", "og", "c"):
        shapes.update({f"W{g}": (E, H), f"U{g}": (H, H), f"b{g}": (H,)})
    shapes.update({"Wo": (H, V), "bo": (V,)})
    return shapes
