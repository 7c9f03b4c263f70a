"""course_utils: the helper package of the Dark Knowledge course -- the map of its modules.

Notebooks import what they need from the submodules (``from course_utils.config import
PROFILE, size`` first). Each module belongs to one room of the course and names in its
docstring the lesson that teaches it; later lessons import it, never copy it.

The spine (every lesson)
  * ``config``        -- ``PROFILE``, the ``SIZES`` table and ``size()``, devices, seeds,
    ``few_threads``, the cache folder, ``doctor()`` (lesson 00)
  * ``io``            -- atomic writes, and ``cached``: the one "build once, save atomically,
    load next time" cache every teacher and tokenizer uses
  * ``stats``         -- runs over seeds (``run_seeds``, ``run_table``), mean ± std tables,
    paired tests (lesson 02)
  * ``plotting``      -- learning curves, soft targets, heat maps, seed spreads, reliability
  * ``widgets``       -- knobs: ipywidgets controls that redraw a figure (lessons 01, 02, 05-07)
  * ``cli``, ``build`` -- the ``course`` command (doctor, build, grade, serve); lessons/ from
    solutions/

Part I -- foundations (lessons 01-04)
  * ``data``          -- MNIST-1D, digits, MNIST online (lesson 01)
  * ``models``        -- the 1D-CNN teacher, MLP students, ``count_params`` (lesson 01)
  * ``losses``        -- ``softmax_with_temperature``, ``kd_loss`` (lesson 01)
  * ``soft_targets``  -- entropy, dark knowledge of a prediction, class similarity, gradients
    (lesson 01)
  * ``teachers``      -- ``mnist1d_teacher``: the cached CNN teacher of lessons 01-04 (and the
    language-model teachers of Part II)
  * ``train``         -- the one classification loop: ``train_loop``/``train_epoch``, ``fit``,
    ``distill`` (stored teacher logits), ``distill_live``, ``evaluate``, ``predict_logits``
    (lesson 02)
  * ``omitted_class`` -- Hinton's omitted class: ``without_class``, ``shift_class_bias``,
    ``class_errors``, ``bias_shift_curve``, ``search_bias_shift`` (lesson 02)
  * ``metrics``       -- what students learn: accuracy, agreement, KL to the teacher,
    calibration (ECE, reliability) (lesson 03)
  * ``buggy_loops``   -- exhibits: a loop with a bug left in on purpose (lesson 03)
  * ``feature_kd``    -- hints, attention transfer, relational KD, function matching (lesson 04)

Part II -- distilling language models (lessons 05-08)
  * ``text``          -- the offline corpus (Python's own docs), TinyStories online, packed
    token blocks (lesson 05)
  * ``tokenizer``     -- byte-level BPE trained on the corpus, as a transformers tokenizer;
    token bytes for the API (lesson 05)
  * ``teachers``      -- ``load_teacher`` (course LMs trained once and cached, or Hub names),
    ``make_student``, ``lm_data`` (lesson 05); ``load_code_teacher``, ``gpt2_params``,
    ``student_shapes`` (lesson 13)
  * ``lm``            -- ``train_lm``, ``compare_students``, ``KDTrainer``, ``evaluate_lm``/
    ``teacher_top1``/``perplexity``, ``warmup_cosine``, ``sample`` (lessons 05-06)
  * ``lm_losses``     -- token-level forward/reverse KL, generalized JSD, top-k KL, masking,
    ``IGNORE_INDEX`` (lesson 06)
  * ``kl_toy``        -- forward vs reverse KL on a two-peaked toy (lesson 06)
  * ``harvest``       -- bills, retries, budgeted resumable harvests, prompt strategies
    (lesson 07)
  * ``seqkd``         -- sequence-level KD: examples from harvests, text or (prompt,
    completion) pairs; ``train_sft`` (lesson 07)
  * ``reasoning``     -- long addition with checkable chains of thought, verifier, rejection
    sampling, the reasoning teacher (lesson 08)

The API (a package; lesson 07, and Part III's provider)
  * ``api``           -- ``serve``, ``TeacherAPI``, ``read_log``; its modules ``protocol``
    (validation, OpenAI error shapes), ``keys`` (keys and limits; key revocation goes here),
    ``log`` (the SQLite request log), ``generation`` (sampling; the watermark goes here),
    ``server`` (HTTP; output defences go here); lesson 09 adds accounts, revocation and
    ``clock`` (a simulated clock for rate limits and log times); lesson 11 the ``defence``
    option (``serve(..., defence=Defence(...))``, ``course serve --defence``)

Part III -- defending models, and the rules (lessons 09-12)
  * ``traffic``       -- simulated API traffic with ground truth: honest users and distillers
    (naive, coordinated, adaptive) played through the real server (lesson 09)
  * ``detection``     -- per-account features from the request log, the rate rule, PRADA, a
    classifier, clustering, TPR at 1% FPR, queries to detection, the ``Watchdog`` (lesson 09)
  * ``watermark``     -- the green-list watermark (transformers' seeding), its z-test and
    ``WatermarkDetector`` twin, coloured tokens, edits that break it, radioactivity scores
    (naive, de-duplicated, open-weights) (lesson 10)
  * ``radioactivity`` -- watermarked and clean harvests through the API, students on a
    watermarked share (cached), their samples and test tables (lesson 10)
  * ``defences``      -- the API's output defences: ``Defence`` (logprob rounding, noise,
    top-1 only, a temperature floor, antidistillation), off by default (lesson 11)
  * ``antidistill``   -- antidistillation sampling: the perturbed proxy pair, the finite-
    difference Delta of every token, our sampler on the tilted distribution (lesson 11)
  * ``fingerprint``   -- secret trigger -> response fingerprints and an identity taught by
    fine-tuning (cached), hit rates, identity rates, leaks to ordinary prompts (lesson 11)
  * ``defence_study`` -- both sides of each output defence: a distiller's prompts, harvests
    bought from the defended API (cached), the honest users' cost, the students (lesson 11)
  * ``sources``       -- the registry of lesson 12's sources (who, date, address, verbatim
    quotations) and the checker of a notebook's quotations; the terms-of-service cases (lesson 12)
  * ``dossier``       -- mystery students from (kind, seed) judged with the tests of lessons 09-11
    (log detector, open-weights radioactivity, identity), Fisher and Bonferroni, the rule's
    false-positive rate on clean students (lesson 12)

Part IV -- the capstone (lesson 13)
  * ``code_corpus``   -- the standard library's own source as a code corpus, split by module;
    packed blocks sized by ``size("code_lm")``
  * ``fast_train``    -- the naive loop against the course's fast loop (mixed precision by
    hardware, GradScaler, compile, fused AdamW, cached top-k teacher logits), run logs,
    tokens/s, cost, time to a target loss, peak memory, generation speed, a profiler summary
  * ``capstone_run``  -- the same training as a script under ``accelerate launch`` (DDP; FSDP
    next), its config in one TOML file, atomic checkpoints and resume

Exercises and grading
  * ``exercises``     -- the check API (``core``) and one module of questions per lesson
    (``lesson00`` ... ``lesson13``), importing the library, never copying it
  * ``grading``       -- ``course grade``: the instructor's sandboxed grader
"""
from .config import PROFILE, doctor, get_device, seed_everything, size

__version__ = "0.1.0"
__all__ = ["PROFILE", "doctor", "get_device", "seed_everything", "size", "__version__"]
