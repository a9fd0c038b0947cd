"""The embedded default data: replies to SMS and email marketing campaigns, labelled by intent.

A deterministic generator of the kind of table a marketing platform exports: one row per inbound
reply, with the customer, channel, campaign, time and the reply text, labelled with one of seven
intents. It carries the mess of real exports: exact and near duplicates ("STOP" thousands of
times), empty and whitespace-only replies, odd spacing, emojis, shouting and lower case, typos,
a long tail of lengths (a few rambling emails) and imbalanced classes.

    python -m components.sample_data --rows 6000 --out replies.csv
"""

import argparse
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from components.common import uri
from components.common.errors import run_cli
from components.common.tables import write_table

LABELS = (
    "unsubscribe",
    "order_status",
    "discount_question",
    "complaint",
    "product_question",
    "positive",
    "other",
)
# Share of replies per intent: opt-outs dominate real reply streams.
_WEIGHTS = (0.30, 0.14, 0.12, 0.08, 0.10, 0.17, 0.09)

_PRODUCTS = (
    "running shoes",
    "rain jacket",
    "yoga mat",
    "water bottle",
    "backpack",
    "hoodie",
    "sneakers",
    "trail socks",
    "fleece",
    "gym bag",
    "smart watch band",
    "sunglasses",
)
_CODES = ("SPRING20", "WELCOME10", "VIP25", "FLASH30", "BOGO", "FREESHIP")
_DAYS = ("monday", "tuesday", "last week", "two weeks ago", "friday", "the 3rd")
_EMOJI = ("🙂", "😡", "👍", "🙏", "😂", "❤️", "🔥", "😤", "🤔", "✨")

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "unsubscribe": (
        "STOP",
        "stop",
        "Stop",
        "STOP!!",
        "unsubscribe",
        "Unsubscribe me",
        "remove me",
        "please remove me from this list",
        "stop texting me",
        "STOP ALL",
        "opt out",
        "no more messages please",
        "take me off your list",
        "quit",
        "cancel",
        "I never signed up for this, stop",
        "how do I unsubscribe from these emails",
        "stop sending me {product} ads",
        "please stop emailing me every day",
        "unsubscribe. too many emails",
        "end",
        "STOPP",
        "stahp",
        "please stop",
    ),
    "order_status": (
        "where is my order",
        "where's my {product}",
        "order #{order} hasn't arrived",
        "I ordered a {product} {day} and still nothing",
        "when will my order ship?",
        "tracking number for order {order}?",
        "has my package shipped yet",
        "my {product} was supposed to arrive {day}",
        "order status {order}",
        "Still waiting on my delivery from {day}",
        "is order {order} on its way?",
        "the tracking link says label created since {day}, what is going on",
        "can you check on order {order} please",
        "did my {product} ship",
    ),
    "discount_question": (
        "does the code {code} work on sale items?",
        "{code} isn't working at checkout",
        "is the {code} code still valid",
        "can I use {code} on a {product}?",
        "how long does the sale last",
        "do you have a student discount",
        "can I combine {code} with free shipping",
        "is there a discount for first orders",
        "the promo code says expired",
        "does the {pct}% off apply to {product}s",
        "code {code} says invalid",
        "when is the next sale",
        "any coupon for the {product}?",
    ),
    "complaint": (
        "my {product} broke after {days} days",
        "worst customer service ever",
        "the {product} arrived damaged",
        "I was charged twice for order {order}",
        "you sent me the wrong size",
        "this is the third time my order is late",
        "very disappointed with the quality of the {product}",
        "nobody answers the phone, I want a refund",
        "refund still not received for {order}",
        "the {product} smells like chemicals",
        "I am really unhappy with this purchase",
        "your courier left my package in the rain",
        "charged for shipping even with {code}",
    ),
    "product_question": (
        "does the {product} come in black?",
        "is the {product} waterproof",
        "what sizes does the {product} come in",
        "is the {product} machine washable",
        "how heavy is the {product}",
        "do you have the {product} in a size {size}?",
        "what's the difference between the {product} and the {product2}",
        "is the {product} back in stock",
        "what material is the {product} made of",
        "does the {product} run small?",
        "will the {product} fit a {size} foot",
    ),
    "positive": (
        "thanks!",
        "love it",
        "awesome, thank you",
        "great deal",
        "just ordered!",
        "love my new {product}",
        "you guys are the best",
        "thanks for the reminder",
        "perfect, see you {day}",
        "ok",
        "cool",
        "amazing service, my {product} came early",
        "thank you so much",
        "yes please",
        "sounds good",
        "the {product} fits perfectly",
        "great, will check it out",
        "best {product} I've ever owned",
    ),
    "other": (
        "who is this?",
        "wrong number",
        "how did you get my number",
        "what time do you open on {day}",
        "are you hiring",
        "is this a real person",
        "can I change my email address",
        "do you have a store near me",
        "hello?",
        "what is this",
        "call me",
        "??",
        "k",
        "do you ship to canada",
        "can I update my phone number",
    ),
}
_OPENERS = ("hi", "hey", "hello", "hi there,", "good morning", "Hi team,", "yo", "excuse me,")
_CLOSERS = ("thanks", "thx", "pls", "please", "asap", "- Sam", "- Maria", "cheers", "ty", "!!!")
_FILLER = (
    "I have been a customer for years.",
    "My wife told me to write to you.",
    "I already emailed twice.",
    "Honestly I expected better.",
    "Anyway.",
    "Let me know as soon as possible.",
    "I am writing from my phone so sorry for typos.",
    "This is not the first time.",
    "I tried the website chat but it did not help.",
    "Thanks in advance for your help.",
)


def _fill(template: str, rng: np.random.Generator) -> str:
    product, product2 = rng.choice(_PRODUCTS, size=2, replace=False)
    return template.format(
        product=product,
        product2=product2,
        code=rng.choice(_CODES),
        day=rng.choice(_DAYS),
        order=int(rng.integers(100000, 999999)),
        days=int(rng.integers(2, 40)),
        pct=int(rng.choice((10, 15, 20, 25, 30, 40))),
        size=int(rng.integers(5, 13)),
    )


def _typo(text: str, rng: np.random.Generator) -> str:
    if len(text) < 6:
        return text
    i = int(rng.integers(1, len(text) - 1))
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _mess(text: str, rng: np.random.Generator) -> str:
    """Apply the casing, spacing, emoji, typo and length quirks of real replies."""
    roll = rng.random(8)
    if roll[6] < 0.25:
        text = f"{rng.choice(_OPENERS)} {text}"
    if roll[7] < 0.25:
        text = f"{text} {rng.choice(_CLOSERS)}"
    if roll[0] < 0.12:
        text = text.upper()
    elif roll[0] < 0.35:
        text = text.lower()
    if roll[1] < 0.15:
        text = _typo(text, rng)
    if roll[2] < 0.12:
        text = f"{text} {rng.choice(_EMOJI)}"
    if roll[3] < 0.10:
        text = f"  {text.replace(' ', '  ', 1)}\t"
    if roll[4] < 0.04:
        extra = rng.choice(_FILLER, size=int(rng.integers(2, 8)))
        text = " ".join([text, *extra])
    if roll[5] < 0.03:
        text = f"{text}\n\nSent from my iPhone"
    return text


def generate(rows: int = 6000, seed: int = 7) -> pd.DataFrame:
    """A table of `rows` campaign replies; the same `rows` and `seed` give the same table."""
    rng = np.random.default_rng(seed)
    intents = rng.choice(len(LABELS), size=rows, p=_WEIGHTS)
    customers = rng.integers(10_000, 10_000 + max(rows // 3, 1), size=rows)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 180 * 24 * 3600, size=rows))
    texts = []
    for intent in intents:
        template = rng.choice(_TEMPLATES[LABELS[intent]])
        texts.append(_mess(_fill(template, rng), rng))
    # Human labellers disagree: a small share of labels is wrong, as in any real export.
    noisy = rng.random(rows) < 0.02
    intents[noisy] = rng.integers(0, len(LABELS), size=int(noisy.sum()))
    # Empty and whitespace-only replies, as exports of real reply streams contain.
    for i in rng.choice(rows, size=max(rows // 100, 1), replace=False):
        texts[i] = rng.choice(("", " ", "\n", "   "))
    frame = pd.DataFrame(
        {
            "message_id": [f"m{seed:02d}{i:07d}" for i in range(rows)],
            "customer_id": [f"c{c}" for c in customers],
            "channel": rng.choice(("sms", "email"), size=rows, p=(0.7, 0.3)),
            "campaign": rng.choice(("spring_sale", "new_arrivals", "loyalty", "restock"), rows),
            "received_at": [(start + timedelta(seconds=int(s))).isoformat() for s in seconds],
            "reply_text": texts,
            "intent": [LABELS[i] for i in intents],
        }
    )
    return frame


def write_sample(target: str, rows: int = 6000, seed: int = 7) -> str:
    """Write the sample table to a local path or s3:// URI; the format follows the suffix."""
    name = target.removesuffix(".gz")
    fmt = next((f for f in ("tsv", "jsonl", "parquet") if name.endswith(f".{f}")), "csv")
    table = pa.Table.from_pandas(generate(rows, seed), preserve_index=False)
    with uri.atomic_output(target) as staged:
        write_table(table, staged, fmt, gzip=target.endswith(".gz"))
    return target


def main(argv: list[str] | None = None) -> None:
    """Command line: write the sample table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6000, help="number of replies")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument(
        "--out", required=True, help="file or s3:// URI (.csv/.tsv/.jsonl/.parquet)"
    )
    args = parser.parse_args(argv)
    print(write_sample(args.out, args.rows, args.seed))


if __name__ == "__main__":
    run_cli(main)
