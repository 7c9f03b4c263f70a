"""The source registry of lesson 12: every source the lesson quotes or cites, in one place.

Each :class:`Source` has an id, a title, who wrote it, a date, an address, and the quotations
the lesson takes from it -- verbatim, as retrieved (``retrieved`` says from where when the
text was read in a copy or in a report quoting it). The notebook writes a quotation as
``“...”`` (curly double quotes) followed by its citation ``[src:id]``, and cites a source
without quoting it as ``[src:id]`` alone. :func:`quotations` finds every quotation in a
notebook; :func:`check_notebook` says which quotation has no entry, or is not (a part of) a
quotation registered under the source it cites, and which citation names no source.

Terms of service change: the dates below say which version was read ("as of").
Nothing here is legal advice.

Taught in lesson 12.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Source", "SOURCES", "TOS_CASES", "VERDICTS", "quotations", "citations", "check_notebook", "check_text",
           "source_table", "normalise"]


@dataclass(frozen=True)
class Source:
    """One source: ``id`` (cited as ``[src:id]``), ``title``, ``who`` (author or organisation),
    ``date`` (ISO, or a month; for terms, the version read), ``url``, ``quotes`` (verbatim),
    ``retrieved`` (where the text was read when not at ``url``), ``note``."""
    id: str
    title: str
    who: str
    date: str
    url: str
    quotes: tuple = field(default_factory=tuple)
    retrieved: str = ""
    note: str = ""


_S = [
    Source("openai-terms-2023", "Terms of Use (version in force in 2023)", "OpenAI",
           "2023-03-14", "https://openai.com/policies/terms-of-use",
           ("use output from the Services to develop models that compete with OpenAI",
            "except as permitted through the API, use any automated or programmatic method to "
            "extract data or output from the Services, including scraping, web harvesting, or "
            "web data extraction"),
           retrieved="quoted in full in https://ospo.co/blog/be-careful-with-openais-terms-of-use/ "
                     "and https://huggingface.co/lmsys/fastchat-t5-3b-v1.0/discussions/3",
           note="Section 2(c), items (iii) and (iv); the version Alpaca's authors read."),
    Source("openai-terms-2024", "Terms of Use (effective 31 January 2024)", "OpenAI",
           "2024-01-31", "https://openai.com/policies/terms-of-use",
           ("Automatically or programmatically extract data or Output",
            "Interfere with or disrupt our Services, including circumvent any rate limits or "
            "restrictions or bypass any protective measures or safety mitigations we put on our "
            "Services.",
            "Use Output to develop models that compete with OpenAI"),
           retrieved="the list 'What you cannot do', quoted in "
                     "https://huggingface.co/datasets/Open-Orca/SlimOrca/discussions/4 and in a "
                     "copy of the terms at https://petclap.com/designs/mindleauge-web/coach/term-and-conditions.html",
           note="As of the lesson's writing (November 2026) the terms may have changed again: "
                "read the current version before relying on it."),
    Source("openai-business-terms", "Business Terms (version quoted in January 2024)", "OpenAI",
           "2024-01", "https://openai.com/policies/business-terms",
           ("use Output (as defined below) to develop any artificial intelligence models that "
            "compete with our products and services",
            "develop artificial intelligence models primarily intended to categorize, classify, "
            "or organize data (e.g., embeddings or classifiers), as long as such models are not "
            "distributed or made commercially available to third parties"),
           retrieved="quoted at http://49.13.78.210/item?id=39049428 (a Hacker News mirror)",
           note="Terms for API and business customers; they differ from the consumer terms."),
    Source("deepseek-v3", "DeepSeek-V3 Technical Report (arXiv:2412.19437)", "DeepSeek-AI",
           "2024-12-27", "https://arxiv.org/abs/2412.19437",
           ("DeepSeek-V3 requires only 2.788M H800 GPU hours for its full training",
            "Assuming the rental price of the H800 GPU is $2 per GPU hour, our total training "
            "costs amount to only $5.576M",
            "Note that the aforementioned costs include only the official training of "
            "DeepSeek-V3, excluding the costs associated with prior research and ablation "
            "experiments on architectures, algorithms, or data."),
           retrieved="the abstract (arXiv listing) and section 1 as quoted at "
                     "https://recaptcha-demo-service-low.global.ssl.fastly.net/item?id=42852229 "
                     "and in several mirrors of the report's text"),
    Source("deepseek-r1", "DeepSeek-R1 README (arXiv:2501.12948)", "DeepSeek-AI", "2025-01-22",
           "https://github.com/deepseek-ai/DeepSeek-R1",
           ("Using the reasoning data generated by DeepSeek-R1, we fine-tuned several dense "
            "models that are widely used in the research community.",
            "The open source DeepSeek-R1, as well as its API, will benefit the research "
            "community to distill better smaller models in the future."),
           note="Section 2, 'Distillation: Smaller Models Can Be Powerful Too'."),
    Source("openai-statement-2025", "OpenAI spokesperson's statement on DeepSeek",
           "OpenAI (to the Daily Caller News Foundation)", "2025-01-29",
           "https://tampafp.com/the-secret-to-chinas-ai-prowess-might-be-copying-american-technology",
           ("We are aware of and reviewing indications that DeepSeek may have inappropriately "
            "distilled our models, and will share information as we know more.",)),
    Source("openai-bloomberg-2025", "OpenAI's statement to Bloomberg, as reported",
           "OpenAI (reported by Business Today)", "2025-01-30",
           "https://www.businesstoday.in/technology/news/story/openai-microsoft-looking-into-deepseek-over-alleged-copying-of-ai-model-reports-462626-2025-01-30",
           ("We know PRC (China)-based companies—and others—are constantly trying to distill "
            "the models of leading US AI companies",)),
    Source("bloomberg-microsoft-2025", "Microsoft Probing If DeepSeek-Linked Group Improperly "
           "Obtained OpenAI Data", "Bloomberg (anonymous sources; Microsoft declined to comment)",
           "2025-01-29",
           "https://news.bloomberglaw.com/ip-law/microsoft-probing-if-deepseek-linked-group-obtained-openai-data",
           (), note="Reports that Microsoft's security researchers saw large-scale extraction "
                    "through the OpenAI API in autumn 2024 and told OpenAI; paraphrased only."),
    Source("banned-accounts-2025", "OpenAI and Microsoft banned accounts suspected of "
           "distillation (a summary of The Wall Street Journal's report)", "Social Schmuck, "
           "summarising The Wall Street Journal", "2025-01",
           "https://socialschmuck.com/intellectual-property-theft-openais-shift-in-stance-amid-deepseek/",
           (), note="Paraphrased only: a secondary summary of a paywalled report; the report "
                    "itself was not retrieved."),
    Source("openai-memo-2026", "Memo to the US House Select Committee on China", "OpenAI",
           "2026-02-12", "https://udit.co/blog/openai-accuses-deepseek-model-distillation-congress",
           ("We have observed accounts associated with DeepSeek employees developing methods to "
            "circumvent OpenAI’s access restrictions and access models through obfuscated "
            "third-party routers and other ways that mask their source.",),
           retrieved="quoted in press reports of 12-13 February 2026 (udit.co, ambusinessng.com, "
                     "mexc.co); the memo itself was not retrieved"),
    Source("copyright-office-2025", "Copyright and Artificial Intelligence, Part 2: "
           "Copyrightability", "U.S. Copyright Office", "2025-01-29",
           "https://www.copyright.gov/ai/Copyright-and-Artificial-Intelligence-Part-2-Copyrightability-Report.pdf",
           ("Prompts do not appear to adequately determine the expressive elements produced, or "
            "control how the system translates them into an output.",),
           retrieved="quoted by https://www.wtk-law.com/blog/what-you-need-to-know-from-the-u-s-"
                     "copyright-offices-january-2025-ai-report/ and "
                     "https://quickreads.ext.katten.com/post/102jxv0/"),
    Source("henderson-lemley-2024", "The Mirage of Artificial Intelligence Terms of Use "
           "Restrictions (arXiv:2412.07066)", "Peter Henderson and Mark A. Lemley", "2024-12-10",
           "https://arxiv.org/abs/2412.07066",
           ("the artifacts that they protect, namely model weights and model outputs, are "
            "largely not copyrightable, making it unclear whether there is even anything to be "
            "licensed",
            "except for some account suspensions on platforms, no model creator has actually "
            "tried to enforce these terms with monetary penalties or injunctive relief",
            "There is a certain hypocrisy in arguing that training models on the public’s data "
            "is fair use but then seeking to prevent others from doing the same thing."),
           retrieved="the abstract (arXiv); the last quotation as quoted at https://legal60.com/"
                     "discussing-lemley-and-hendersons-the-mirage-of-artificial-intelligence-terms-of-use-restrictions"),
    Source("nyt-complaint-2023", "The New York Times Company v. Microsoft Corporation et al., "
           "Complaint, No. 1:23-cv-11195 (S.D.N.Y.)", "The New York Times Company", "2023-12-27",
           "https://www.docketalarm.com/cases/New_York_Southern_District_Court/1--23-cv-11195/The_New_York_Times_Company_v._MICROSOFT_CORPORATION_et_al/1/",
           ("Defendants’ unlawful use of The Times’s work to create artificial intelligence "
            "products that compete with it threatens The Times’s ability to provide that service.",
            "Defendants seek to free-ride on The Times’s massive investment in its journalism by "
            "using it to build substitutive products without permission or payment."),
           note="Paragraph 2. The case is pending; a complaint states one side's allegations."),
    Source("finger-cornell-2025", "‘Ironic, hypocritical’ of big tech to call out DeepSeek "
           "(tip sheet)", "Lutz Finger, Cornell University", "2025-01",
           "https://news.cornell.edu/media-relations/tip-sheets/ironic-hypocritical-big-tech-call-out-deepseek",
           ("Distillation will violate most terms of service, yet it's ironic — or even "
            "hypocritical — that big tech is calling it out.",
            "Training ChatGPT on Forbes or New York Times content also violated their terms of "
            "service."),
           note="The page shows no day; it answers the reports of late January 2025."),
    Source("stblaw-export-2023", "U.S. Comprehensive Upgrade of Its Controls on Semiconductor "
           "Exports to China", "Simpson Thacher & Bartlett", "2023-11-02",
           "https://stblaw.com/about-us/publications/view/2023/11/02/u.s.-comprehensive-upgrade-of-its-controls-on-semiconductor-exports-to-china",
           ("The new rules will capture chips tailor-made for China, such as the A800 and the "
            "H800 chips designed by Nvidia, that were just outside the scope of the October 2022 "
            "rules.",),
           note="On the BIS rules of 17 October 2023."),
    Source("millerchevalier-h20-2025", "Trade Compliance Flash: Key Takeaways from New BIS "
           "Restrictions on AI Chips to China", "Miller & Chevalier", "2025-04",
           "https://millerchevalier.com/publication/trade-compliance-flash-key-takeaways-new-bis-restrictions-ai-chips-china",
           ("the new controls cover NVIDIA's H20 chips and their equivalents, which were "
            "developed specifically for the Chinese AI market after the previous administration "
            "introduced controls on higher-end chips",)),
    Source("spglobal-h20-2025", "AI chip export control thaw poses questions about security, "
           "market access", "S&P Global Market Intelligence", "2025-07-22",
           "https://www.spglobal.com/market-intelligence/en/news-insights/articles/2025/7/ai-chip-export-control-thaw-poses-questions-about-security-market-access-91619554",
           ("The US government has assured NVIDIA that licenses will be granted, and NVIDIA "
            "hopes to start deliveries soon",),
           note="Quotes NVIDIA's blog post of July 2025: the April 2025 H20 restriction reversed."),
    Source("alpaca-2023", "Alpaca: A Strong, Replicable Instruction-Following Model",
           "Stanford CRFM (Taori, Gulrajani, Zhang, Dubois, Li, Guestrin, Liang, Hashimoto)",
           "2023-03-13", "https://crfm.stanford.edu/2023/03/13/alpaca.html",
           ("We emphasize that Alpaca is intended only for academic research and any commercial "
            "use is prohibited.",
            "the instruction data is based on OpenAI’s text-davinci-003, whose terms of use "
            "prohibit developing models that compete with OpenAI"),
           retrieved="quoted at https://huggingface.co/tloen/alpaca-lora-7b/discussions/2"),
]

#: Every source of lesson 12, by id.
SOURCES: dict[str, Source] = {s.id: s for s in _S}

_QUOTE = re.compile(r"“([^”]+)”\s*\[src:([A-Za-z0-9_.\-]+)\]|“([^”]+)”")
_CITE = re.compile(r"\[src:([A-Za-z0-9_.\-]+)\]")


def normalise(text: str) -> str:
    """Text compared as quotations are: curly apostrophes straight, dashes and whitespace
    collapsed, case kept (a quotation is verbatim)."""
    text = text.replace("’", "'").replace("‘", "'").replace("\u00a0", " ")
    text = text.replace("—", "-").replace("–", "-")
    return re.sub(r"\s+", " ", text).strip()


def quotations(text: str) -> list[tuple[str, str | None]]:
    """Every quotation ``“...”`` in ``text`` with the source id cited right after it (``None``
    when no ``[src:id]`` follows). Taught in lesson 12."""
    out = []
    for m in _QUOTE.finditer(text):
        if m.group(1) is not None:
            out.append((m.group(1), m.group(2)))
        else:
            out.append((m.group(3), None))
    return out


def citations(text: str) -> list[str]:
    """Every source id cited as ``[src:id]`` in ``text``."""
    return _CITE.findall(text)


def check_text(text: str, sources: dict | None = None) -> list[str]:
    """Problems with the quotations and citations of ``text``: a quotation with no source
    after it, a source id not in the registry, a quotation that is not a part of one of its
    source's registered quotations. An empty list: all is well."""
    sources = SOURCES if sources is None else sources
    problems = []
    for quote, sid in quotations(text):
        if sid is None:
            problems.append(f"quotation without a source: “{quote[:60]}”")
        elif sid not in sources:
            problems.append(f"quotation cites an unknown source [src:{sid}]: “{quote[:60]}”")
        elif not any(normalise(quote) in normalise(q) for q in sources[sid].quotes):
            problems.append(f"quotation not registered under [src:{sid}]: “{quote[:60]}”")
    for sid in citations(text):
        if sid not in sources:
            problems.append(f"citation of an unknown source [src:{sid}]")
    return problems


def check_notebook(nb, sources: dict | None = None) -> list[str]:
    """:func:`check_text` over every markdown cell of a notebook (an ``nbformat`` notebook or a
    path). Taught in lesson 12."""
    import nbformat
    if not hasattr(nb, "cells"):
        nb = nbformat.read(str(nb), as_version=4)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            problems += [f"cell {i}: {p}" for p in check_text(cell.source, sources)]
    return problems


def source_table(ids=None):
    """The registry as a DataFrame (id, who, title, date, url), for the notebook."""
    import pandas as pd
    chosen = [SOURCES[i] for i in ids] if ids is not None else list(SOURCES.values())
    return pd.DataFrame([dict(id=s.id, who=s.who, title=s.title, date=s.date, url=s.url)
                         for s in chosen]).set_index("id")


# --------------------------------------------------------------------------------------
# Terms-of-service cases (lesson 12's exercise): each classified against the quoted terms
# --------------------------------------------------------------------------------------
#: The three verdicts: the quoted terms forbid it on their face; nothing quoted forbids it;
#: it turns on a word the terms leave undefined or on who is bound by them.
VERDICTS = ("forbidden", "allowed", "unclear")

#: The cases: ``id``, ``text``, ``verdict``, ``why`` (shown when a verdict is wrong) and the
#: sources the reasoning rests on.
TOS_CASES = [
    dict(id="student", text="A student buys 5,000 answers from OpenAI's API and fine-tunes a "
         "10M-parameter model on them for a course report; the model is never released.",
         verdict="unclear", sources=["openai-terms-2024"],
         why="the clause forbids models that *compete* with OpenAI, and the terms do not say "
             "what competing means; a model nobody can use competes with nothing in practice, "
             "but the text alone does not settle it."),
    dict(id="competitor", text="A start-up trains a general chat assistant on millions of "
         "answers bought through OpenAI's API and sells subscriptions to it.",
         verdict="forbidden", sources=["openai-terms-2024", "openai-business-terms"],
         why="a paid general assistant is the plainest case of a model that competes with "
             "OpenAI's products, developed from Output."),
    dict(id="scraper", text="A team runs a browser bot that types questions into the ChatGPT "
         "web app and saves the answers (no API).", verdict="forbidden",
         sources=["openai-terms-2024", "openai-terms-2023"],
         why="automated extraction of Output is listed as forbidden, whatever the answers are "
             "used for later; the 2023 terms made the exception for the API explicit."),
    dict(id="sybil", text="A distiller opens forty accounts so that each stays under the "
         "per-account rate limit while together they harvest far more.", verdict="forbidden",
         sources=["openai-terms-2024"],
         why="the terms forbid circumventing rate limits or restrictions; splitting one harvest "
             "over many accounts exists only to do that (lesson 09's coordinated distillers)."),
    dict(id="open-weights", text="A lab publishes, free to download, the open weights of a "
         "general chat model trained on millions of GPT-4 answers it bought.",
         verdict="forbidden", sources=["openai-terms-2024"],
         why="the clause says compete, not sell: a free general chat model is a substitute for "
             "OpenAI's products, and it was developed from Output."),
    dict(id="classifier-shared", text="A company trains a spam classifier on API outputs and "
         "licenses the classifier to other companies.", verdict="forbidden",
         sources=["openai-business-terms"],
         why="the business terms let customers build classifiers from Output only 'as long as "
             "such models are not distributed or made commercially available to third "
             "parties'; licensing it to others is exactly that."),
    dict(id="alpaca-commercial", text="A company fine-tunes a model on the Alpaca dataset and "
         "ships it in a commercial product.", verdict="forbidden", sources=["alpaca-2023"],
         why="Alpaca's release restricts it to academic research and prohibits commercial use "
             "(these are Alpaca's release terms, separate from OpenAI's)."),
    dict(id="classifier-inhouse", text="A company trains a spam classifier on API outputs for "
         "its own mail server and shares it with no one.", verdict="allowed",
         sources=["openai-business-terms"],
         why="the business terms carve out models 'primarily intended to categorize, classify, "
             "or organize data', kept in-house."),
    dict(id="r1-distill", text="A researcher distils DeepSeek-R1's open weights into a 1B "
         "model and publishes it.", verdict="allowed", sources=["deepseek-r1"],
         why="these are not OpenAI's outputs, and DeepSeek's release invites distilling "
             "smaller models from R1 (under its MIT licence)."),
    dict(id="permissive-synthetic", text="A team generates synthetic data with an open model "
         "whose licence allows any use of its outputs, running it on its own GPUs, and trains "
         "a commercial model on it.", verdict="allowed", sources=["henderson-lemley-2024"],
         why="no OpenAI service or Output is involved, and the model's own licence allows it; "
             "no quoted term applies."),
    dict(id="own-model", text="A provider distils its own large model into a small one it "
         "sells (as DeepSeek says it did with R1).", verdict="allowed",
         sources=["deepseek-r1"],
         why="distilling your own model is the textbook use of distillation (lessons 01-08); "
             "nobody else's terms are involved."),
    dict(id="watermark-audit", text="A researcher sends a few hundred API requests, within "
         "the limits, to test whether the answers carry a watermark; no model is trained.",
         verdict="allowed", sources=["openai-terms-2024"],
         why="no model is developed from Output and nothing is extracted around the API or its "
             "limits; the quoted terms forbid neither."),
    dict(id="eval-set", text="A lab collects GPT-4 answers through the API to build a "
         "benchmark's reference answers, then uses the benchmark to choose between its own "
         "model's checkpoints.", verdict="unclear", sources=["openai-terms-2024"],
         why="no model is trained on the answers, but choosing checkpoints is part of "
             "developing a model; whether that is 'use Output to develop models' is not defined."),
    dict(id="third-party-data", text="A developer who never had an OpenAI account trains a "
         "commercial model on a public dataset of ChatGPT conversations that other people "
         "collected.", verdict="unclear", sources=["henderson-lemley-2024",
                                                   "copyright-office-2025"],
         why="terms bind whoever accepted them, and the outputs themselves are largely not "
             "copyrightable, so it is unclear what, if anything, binds this developer."),
]
