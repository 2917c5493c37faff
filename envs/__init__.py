"""The SeqGAN environments (installed as ``seqgan_gym.envs``) and their registration.

``import seqgan_gym`` registers ``SeqGAN-Oracle-v0`` and the real-data ids ``SeqGAN-Text-v0``
(any corpus: ``corpus=...``), ``SeqGAN-Quatrains-v0``, ``SeqGAN-COCO-v0`` and
``SeqGAN-Nottingham-v0`` (see ``text_env.py``)::

    gymnasium.make("SeqGAN-Oracle-v0", reward_model=DiscriminatorReward(D),
                   rollout_policy=RolloutPolicy(G))                # SeqGANEnv
    gymnasium.make_vec("SeqGAN-Oracle-v0", num_envs=64, **kwargs)  # SeqGANVectorEnv (native batch)
    gymnasium.make("SeqGAN-Oracle-v0", reward_model="untrained")   # a smoke test (untrained D, random beta)

``reward_model`` is required: a plain ``gymnasium.make("SeqGAN-Oracle-v0")`` raises a one-line
``TypeError`` saying what to pass, before building anything (see ``SeqGANEnv``'s docstring).
Without importing seqgan_gym first, use the id ``"seqgan_gym:SeqGAN-Oracle-v0"``.
``make_vec(..., vectorization_mode="sync")`` also works (B single envs, no batched rollouts).
"""

from importlib import import_module

from gymnasium.envs.registration import register, registry

ENV_ID = "SeqGAN-Oracle-v0"
TEXT_ENV_ID = "SeqGAN-Text-v0"
#: The registered real-data ids and the corpus each one loads (see envs/text_env.py).
CORPUS_ENV_IDS = {TEXT_ENV_ID: "quatrains", "SeqGAN-Quatrains-v0": "quatrains",
                  "SeqGAN-COCO-v0": "coco", "SeqGAN-Nottingham-v0": "nottingham"}

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="seqgan_gym.envs.seqgan_env:SeqGANEnv",
        vector_entry_point="seqgan_gym.envs.vector_env:SeqGANVectorEnv",
    )
for _id, _corpus in CORPUS_ENV_IDS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point="seqgan_gym.envs.text_env:SeqGANTextEnv",
            vector_entry_point="seqgan_gym.envs.text_env:SeqGANTextVectorEnv",
            kwargs={"corpus": _corpus},
        )

# The classes load on first use (PEP 562), so registering the ids above imports no torch.
_LAZY = {"EnvOptions": ".core", "SeqGANEnv": ".seqgan_env", "SeqGANTextEnv": ".text_env",
         "SeqGANTextVectorEnv": ".text_env", "SeqGANVectorEnv": ".vector_env"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CORPUS_ENV_IDS", "ENV_ID", "TEXT_ENV_ID", "EnvOptions", "SeqGANEnv", "SeqGANTextEnv",
           "SeqGANTextVectorEnv", "SeqGANVectorEnv"]
