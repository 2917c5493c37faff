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

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (batch, hidden_dim)

# ----------------------------------------------------------------------- fast output layer
# Why sampling and NLL evaluation are fast. Sampling sequences and scoring them (NLL_oracle) cost
# little in the LSTM cell and almost everything in the output layer: per token a (1, H+1) x (H+1, V)
# product whose V = 5000 outputs are then exponentiated, summed and searched. With K = 33 that is
# bound by memory traffic and per-op overhead on a CPU, not by FLOPs. On the shared 2-core
# development machine (10,000 sequences, V = 5000, 2 threads, best of 7 side by side at load
# average ~4) this took sampling from 2.8 s to 0.94 s and the oracle's NLL of them (the scoring
# half of NLL_oracle) from 3.4 s to 0.76 s (process CPU time: 3.7 -> 1.6 s and 5.8 -> 1.2 s), by
#
# 1. folding the bias into the matmul (:meth:`LSTMLanguageModel.output_matrix`: a row ``b`` under
#    ``W^T`` and a column of ones beside ``h``): ``addmm`` first writes the broadcast bias over the
#    whole (rows, V) output, an extra pass that cost ~70% of the matmul itself;
# 2. running the output layer on chunks of ``CPU_CHUNK_ROWS`` rows into one reused buffer, never a
#    fresh (batch, V) tensor (page faults and DRAM traffic every step);
# 3. never normalising, and subtracting the row max only where needed (:func:`exp_logits_`);
# 4. a two-level inverse CDF (:func:`_draw`): a cumulative sum over V is a sequential scan, so the
#    block of the draw is found among ~40 block sums (a vectorised reduction) and only that block
#    of <= 128 entries is scanned.
# ``torch.multinomial`` is ~4x slower than a plain inverse CDF and is not used.
# Rows per output-layer chunk on CPU (1024 x 5000 floats = 20 MB). 256-2048 tried: 512-1024 best; the
# larger also halves the number of OpenMP regions, each of which costs a time slice on a busy machine.
CPU_CHUNK_ROWS = 1024
_BLOCK = 128  # entries per block of the two-level inverse CDF (at most)
# exp(logits) needs no shift when a row's sum lies in this range: no term overflows, and the terms
# lost to underflow (< 1.2e-38 each) sum to < V * 1.2e-18 of the row's sum (6e-15 for V = 5000)
_SAFE_SUM_RANGE = (1e-20, 1e30)


def _block_layout(n: int) -> tuple[int, int]:
    """``(n_blocks, block)`` for ``n`` entries: blocks of at most ``_BLOCK``, padding < n_blocks."""
    n_blocks = -(-n // _BLOCK)
    return n_blocks, -(-n // n_blocks)


def exp_logits_(
    hidden1: torch.Tensor, weight1: torch.Tensor, out: torch.Tensor, n_blocks: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unnormalised softmax of the logits ``hidden1 @ weight1``, computed into ``out``.

    :param hidden1: (rows, H + 1) hidden states with a trailing column of ones.
    :param weight1: (H + 1, n) from :meth:`LSTMLanguageModel.output_matrix`.
    :param out: (rows, n) buffer, overwritten (its contents become the returned ``p``).
    :param n_blocks: also sum each row over this many equal blocks (``n`` must divide evenly).
    :return: ``(p, block_sums, shift)``: ``p = exp(logits - shift)`` (rows, n), its sums over each
        block (rows, n_blocks) and the per-row shift (rows, 1); ``logsumexp = log(sum) + shift``.

    The shift is 0 - no pass for the row max, none to subtract it - for every row whose sum lies
    in ``_SAFE_SUM_RANGE``, where exp(logits) neither overflows nor loses a term that matters at
    float32 precision. Other rows are recomputed with their max subtracted, the usual stable form.
    """
    rows = out.shape[0]
    p = torch.mm(hidden1, weight1, out=out).exp_()
    block_sums = p.view(rows, n_blocks, -1).sum(2)
    total = block_sums.sum(1)
    shift = torch.zeros(rows, 1, dtype=p.dtype, device=p.device)
    unsafe = ~((total >= _SAFE_SUM_RANGE[0]) & (total <= _SAFE_SUM_RANGE[1]))  # NaN included
    if unsafe.any():
        redo = unsafe.nonzero().squeeze(1)
        logits = torch.mm(hidden1[redo], weight1)
        shift[redo] = logits.amax(1, keepdim=True)
        p[redo] = logits.sub_(shift[redo]).exp_()
        block_sums[redo] = p[redo].view(len(redo), n_blocks, -1).sum(2)
    return p, block_sums, shift


def _draw(p: torch.Tensor, block_sums: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One inverse-CDF draw per row from unnormalised probabilities, by a two-level search.

    :param p: (rows, n_blocks, block) non-negative, not necessarily normalised.
    :param block_sums: (rows, n_blocks), ``p.sum(2)``.
    :param u: (rows, 1) uniforms in [0, 1).
    :return: (rows,) long, the flat index ``block_index * block + offset``. Entry i is drawn with
        probability p_i / sum(p) (up to float32 rounding); an entry with p_i = 0 is never drawn.
    """
    rows, n_blocks, block = p.shape
    cdf = block_sums.cumsum(1)  # (rows, n_blocks)
    total = cdf[:, -1:]
    # u * total, kept strictly below the total: rounding then never lands past the last entry of
    # positive probability (right=True search skips zero-probability entries)
    target = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
    k = torch.searchsorted(cdf, target, right=True).clamp_(max=n_blocks - 1)  # (rows, 1) block
    target -= F.pad(cdf, (1, 0)).gather(1, k)  # mass before block k; the rest falls inside it
    inside = p.gather(1, k.unsqueeze(2).expand(rows, 1, block)).squeeze(1).cumsum_(1)
    target = torch.minimum(target, torch.nextafter(inside[:, -1:], torch.zeros_like(target)))
    j = torch.searchsorted(inside, target, right=True)  # (rows, 1) offset inside block k
    return (k * block + j).squeeze(1)


def sample_categorical(
    logits: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw one index per row of ``logits`` (batch, V) by inverse-CDF sampling.

    Equivalent in distribution to ``torch.multinomial(softmax(logits), 1)`` (up to float32
    rounding) but several times faster on CPU for V = 5000: one uniform per row from
    ``generator``, located among the unnormalised cumulative probabilities by the two-level
    search of :func:`_draw`. ``logits`` is not modified. Returns ``(batch,)`` long.
    """
    logits = logits.float()
    rows, V = logits.shape
    n_blocks, block = _block_layout(V)
    p = logits.new_zeros(rows, n_blocks * block)  # padding columns keep probability 0
    torch.sub(logits, logits.amax(1, keepdim=True), out=p[:, :V]).exp_()
    u = torch.rand(rows, 1, generator=generator, device=p.device, dtype=p.dtype)
    p = p.view(rows, n_blocks, block)
    return _draw(p, p.sum(2), u).clamp_(max=V - 1)


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
    def init_normal_(self, std: float, generator: torch.Generator | None = None) -> LSTMLanguageModel:
        """Draw every parameter (embedding, gate weights and biases, output layer) from N(0, std^2).

        The oracle uses std = 1, the generator std = 0.1, as the authors' code. The draws follow
        the paper's array order (see :meth:`load_paper_arrays`) so that a seed means the same
        oracle whatever the tensor layout.
        """
        E, H, V = self.emb_dim, self.hidden_dim, self.vocab_size
        shapes = paper_array_shapes(V, E, H)
        arrays = [torch.randn(s, generator=generator) * std for s in shapes.values()]
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
        generator: torch.Generator | None = None,
        uniforms: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Sample ``n_steps`` more tokens after ``last_tokens`` (batch,) from LSTM state ``state``.

        ``uniforms`` (batch, n_steps) in [0, 1), if given, are the draws to use (column t draws
        token t) instead of ``generator``'s: this is how the Monte-Carlo search pins its draws.

        This is the Monte-Carlo search of the paper: it continues from the prefix's state instead
        of replaying the prefix. Returns the new tokens (batch, n_steps) and the final state.

        Each step draws from ``softmax(step(...) logits / temperature)`` exactly as
        :func:`sample_categorical` (one ``torch.rand(batch, 1, generator=generator)`` per step),
        but faster (see the notes above :func:`exp_logits_`): the LSTM cell runs on the whole
        batch, the output layer and the draw on chunks of rows in one reused buffer, and the
        (batch, V) logits are never materialised.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        batch, device, V = last_tokens.shape[0], last_tokens.device, self.vocab_size
        if uniforms is not None and tuple(uniforms.shape) != (batch, n_steps):
            raise ValueError(f"uniforms must have shape ({batch}, {n_steps}), got {tuple(uniforms.shape)}")
        n_blocks, block = _block_layout(V)
        weight1 = self.output_matrix(temperature, n_blocks * block)  # (H + 1, >= V)
        chunk = CPU_CHUNK_ROWS if device.type == "cpu" else max(batch, 1)
        hidden1 = weight1.new_ones(batch, self.hidden_dim + 1)  # [h, 1]
        buf = weight1.new_empty(min(chunk, batch), weight1.shape[1])
        out = torch.empty(batch, n_steps, dtype=torch.long, device=device)
        tokens = last_tokens
        for t in range(n_steps):
            state = self._next_state(tokens, state)
            hidden1[:, :-1] = state[0]
            if uniforms is None:
                u = torch.rand(batch, 1, generator=generator, device=device, dtype=buf.dtype)
            else:
                u = uniforms[:, t : t + 1].to(buf.dtype)
            for lo in range(0, batch, chunk):
                hi = min(lo + chunk, batch)
                p, block_sums, _ = exp_logits_(hidden1[lo:hi], weight1, buf[: hi - lo], n_blocks)
                drawn = _draw(p.view(hi - lo, n_blocks, block), block_sums, u[lo:hi])
                out[lo:hi, t] = drawn.clamp_(max=V - 1)
            tokens = out[:, t]
        return out, state

    @torch.no_grad()
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
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
                self.start_tokens(b), self.initial_state(b), self.seq_len, temperature, generator
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
        hidden, _ = self.lstm(self.embedding(inputs))  # (batch, T, H)
        return hidden

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
