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

import torch
import torch.nn.functional as F
from torch import nn

from seqgan_gym._kernels.inverse_cdf import OutputLayerSampler
from seqgan_gym._kernels.lstm import run_lstm

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (batch, hidden_dim)


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
        the output layer (:meth:`complete` draws from that without forming the logits)."""
        h, c = state
        x = self.embedding(tokens)  # (batch, E)
        gates = F.linear(x, self.lstm.weight_ih_l0, self.lstm.bias_ih_l0) + F.linear(
            h, self.lstm.weight_hh_l0, self.lstm.bias_hh_l0
        )  # (batch, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

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

        This is the Monte-Carlo search of the paper: it continues from the prefix's state instead
        of replaying the prefix. Each step feeds the last token to the LSTM cell and draws the next
        from ``softmax(logits / temperature)`` with one uniform per row, ``torch.rand(batch, 1,
        generator=rng)``, as :func:`seqgan_gym.models.sampling.sample_categorical` does.
        ``uniforms`` (batch, n_steps) in [0, 1), if given, are the draws to use (column t draws
        token t) instead of ``rng``'s: this is how the Monte-Carlo search pins its draws. Returns
        the new tokens (batch, n_steps) and the final state.

        The (batch, V) logits are never materialised: the draws come from the output layer in
        chunks of rows (:class:`seqgan_gym._kernels.inverse_cdf.OutputLayerSampler`), on several
        threads side by side where torch has them. The draws are the same; the rows per matrix
        product change with the threads, which can round a logit differently and, rarely, move a
        uniform across an inverse-CDF boundary (see :mod:`seqgan_gym.rewards.rollout`): the same
        threads give the same tokens.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        batch, device = last_tokens.shape[0], last_tokens.device
        if uniforms is not None and tuple(uniforms.shape) != (batch, n_steps):
            raise ValueError(f"uniforms must have shape ({batch}, {n_steps}), got {tuple(uniforms.shape)}")
        output_layer = OutputLayerSampler(self.output.weight, self.output.bias, temperature, batch)
        out = torch.empty(batch, n_steps, dtype=torch.long, device=device)
        tokens = last_tokens
        for t in range(n_steps):
            state = self._next_state(tokens, state)  # step the LSTM cell
            if uniforms is None:  # one uniform per row
                u = torch.rand(batch, 1, generator=rng, device=device, dtype=output_layer.dtype)
            else:
                u = uniforms[:, t : t + 1].to(output_layer.dtype)
            tokens = output_layer.draw(state[0], u, out=out[:, t])  # draw token t
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
