"""course_utils: the helper package of the Dark Knowledge course.

Notebooks import what they need from the submodules:

* ``config``   -- ``PROFILE``, ``size()``, ``get_device()``, ``seed_everything()``, ``doctor()``
* ``data``     -- MNIST-1D, digits, MNIST (online)
* ``models``   -- the 1D-CNN teacher, MLP students, ``count_params``
* ``losses``   -- ``softmax_with_temperature``, ``kd_loss``
* ``soft_targets`` -- entropy, dark knowledge of a prediction, class similarity, logit gradients
* ``train``    -- ``fit``, ``distill``, ``evaluate``, ``predict_logits``
* ``stats``    -- multi-seed summaries and significance tests
* ``text``     -- the offline corpus (Python's own docs), TinyStories online, packed token blocks
* ``tokenizer``-- byte-level BPE trained on the corpus, as a transformers tokenizer
* ``teachers`` -- ``load_teacher`` (course LMs trained once and cached, or Hub names), ``make_student``
* ``lm_losses``-- token-level forward/reverse KL, generalized JSD, top-k KL, with masking
* ``lm``       -- ``train_lm``, ``KDTrainer``, ``evaluate_lm``/``perplexity``, ``sample``
* ``kl_toy``   -- forward vs reverse KL on a two-peaked toy
* ``plotting`` -- learning curves, soft targets, confusion matrices, seed spreads
* ``exercises``-- the check API and each lesson's questions
"""
from .config import PROFILE, doctor, get_device, seed_everything, size

__version__ = "0.1.0"
__all__ = ["PROFILE", "doctor", "get_device", "seed_everything", "size", "__version__"]
