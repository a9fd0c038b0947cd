"""The embedded default data: replies to SMS and email marketing campaigns, labelled by intent.

A deterministic generator of the kind of table a marketing platform exports: one row per inbound
reply, with the customer, channel, campaign, time and the reply text, labelled with one of seven
intents. It is built to be about as hard as a real reply stream, not as easy as templates:

- Each reply is composed of pieces (an opener, a context clause, the intent's request in one of
  many paraphrases with interchangeable words, a hedge, a closer); phrasings and words follow
  Zipf's law, a few common and a long tail of rare ones, so a model cannot win by memorising a
  few templates, and the context clauses borrow other intents' words.
- Intents share their vocabulary and differ by word order, negation and context: a question
  about a discount code ("does SPRING20 work on the hoodie?") against a complaint about one
  ("SPRING20 did not work on the hoodie, I want a refund"), order status against a question
  about a product that was ordered, "stop the texts" against "don't stop the texts, I love the
  deals". About one reply in seven makes a second request after the first ("... also, is the
  fleece waterproof?"); its single label is the first request's.
- Short acknowledgements ("ok", "sure", "noted") are ambiguous: labellers file them as
  `positive` or `other` with equal odds.
- Label noise: 8% of the labels are wrong (`NOISE_RATE`), replaced by another intent, in two
  of three cases a confusable one. The noise is in every split, test included, so it caps what
  any model can score: predicting every reply's intended label scores a test macro-F1 of about
  0.89 on the demo's split (0.89 to 0.92 with other seeds).
- About 3% of the replies are in Spanish, French or German.
- The mess of real exports: exact and near duplicates ("STOP", "stop", "STOP!!" again and
  again), empty and whitespace-only replies, texting abbreviations ("pls", "ur"), odd spacing,
  emojis, shouting and lower case, typos, a long tail of lengths (rambling emails) and
  imbalanced classes.

With `multi_label=True` the label column holds each reply's list of intents instead (a reply can
be both a complaint and a discount question); the replies are the same. CSV and TSV files hold
such lists joined by `|` (`LABEL_DELIMITER`).

    python -m components.sample_data --rows 6000 --out replies.csv [--multi-label]
"""

import argparse
import functools
from collections.abc import Sequence
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
_WEIGHTS = (0.30, 0.14, 0.12, 0.09, 0.11, 0.15, 0.09)
# Share of wrong labels, in every split.
NOISE_RATE = 0.08
# How CSV and TSV files join a reply's labels in the multi-label variant.
LABEL_DELIMITER = "|"
# Intents a labeller mixes up, so most wrong labels land on one of these.
_CONFUSABLE = {
    "unsubscribe": ("complaint",),
    "order_status": ("complaint", "product_question"),
    "discount_question": ("complaint", "product_question"),
    "complaint": ("order_status", "discount_question", "unsubscribe"),
    "product_question": ("order_status", "discount_question"),
    "positive": ("other",),
    "other": ("positive", "product_question"),
}
# A second request that follows the first in the same reply: (first, second).
_PAIRS = (
    ("complaint", "discount_question"),
    ("complaint", "order_status"),
    ("complaint", "unsubscribe"),
    ("order_status", "product_question"),
    ("positive", "product_question"),
    ("positive", "discount_question"),
    ("discount_question", "product_question"),
    ("order_status", "complaint"),
)
_SECOND_REQUEST_RATE = 0.3
_FOREIGN_RATE = 0.04
_ACK_RATE = 0.15  # of positive and other replies: a bare acknowledgement

_WORDS: dict[str, tuple[str, ...]] = {
    "product": (
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
        "watch band",
        "sunglasses",
        "leggings",
        "beanie",
        "windbreaker",
        "hiking boots",
        "sports bra",
        "duffel",
        "parka",
        "flip flops",
        "cap",
        "thermal top",
        "cycling shorts",
        "tote",
        "trainers",
        "gilet",
        "joggers",
        "mitts",
    ),
    "code": ("SPRING20", "WELCOME10", "VIP25", "FLASH30", "BOGO", "FREESHIP", "SUMMER15", "LOYAL5"),
    "codeword": (
        "code",
        "promo code",
        "coupon",
        "voucher",
        "discount code",
        "promo",
        "offer code",
        "coupon code",
        "discount",
        "deal",
        "offer",
        "reduction",
        "promotion",
        "markdown",
        "rebate",
        "price cut",
    ),
    "pkg": (
        "order",
        "package",
        "parcel",
        "delivery",
        "shipment",
        "box",
        "stuff",
        "purchase",
        "items",
        "order",
        "things",
        "consignment",
    ),
    "day": (
        "monday",
        "tuesday",
        "last week",
        "two weeks ago",
        "friday",
        "the 3rd",
        "yesterday",
        "on the weekend",
        "ten days ago",
        "last month",
        "a while ago",
        "on sunday",
    ),
    "broke": (
        "broke",
        "fell apart",
        "ripped",
        "tore",
        "stopped working",
        "came apart",
        "split",
        "cracked",
        "fell to pieces",
        "lost its shape",
        "started peeling",
        "faded",
        "snapped",
        "shrank",
        "went bobbly",
        "leaked",
        "frayed",
        "disintegrated",
        "unravelled",
        "buckled",
        "delaminated",
    ),
    "damaged": (
        "damaged",
        "broken",
        "torn",
        "dirty",
        "crushed",
        "soaked",
        "scratched",
        "used",
        "missing a piece",
        "in pieces",
        "stained",
        "dented",
        "mouldy",
        "warped",
        "ripped open",
        "squashed",
        "bent",
    ),
    "great": (
        "great",
        "amazing",
        "awesome",
        "fantastic",
        "brilliant",
        "lovely",
        "superb",
        "excellent",
        "wonderful",
        "perfect",
        "fab",
        "so good",
        "top notch",
        "spot on",
        "incredible",
        "stellar",
        "gorgeous",
        "class",
        "smashing",
        "ace",
        "cracking",
        "phenomenal",
        "sublime",
        "faultless",
        "magic",
    ),
    "happy": (
        "happy",
        "pleased",
        "thrilled",
        "delighted",
        "chuffed",
        "stoked",
        "over the moon",
        "impressed",
        "satisfied",
        "made up",
        "buzzing",
        "elated",
        "tickled pink",
        "well pleased",
    ),
    "unhappy": (
        "disappointed",
        "unhappy",
        "upset",
        "annoyed",
        "fed up",
        "livid",
        "frustrated",
        "gutted",
        "let down",
        "furious",
        "not impressed",
        "appalled",
        "gutted tbh",
        "seething",
        "cross",
        "peeved",
        "dismayed",
        "aggrieved",
        "raging",
        "disgusted",
    ),
    "demand": (
        "I want a refund",
        "give me my money back",
        "refund me",
        "I expect compensation",
        "this is unacceptable",
        "sort it out",
        "I want to speak to a manager",
        "never again",
        "absolute joke",
        "disgraceful",
        "fix this",
        "I'm reporting this",
        "shocking",
        "pathetic",
        "I'll be disputing the charge",
        "I'm going to leave a review",
        "what a rip off",
        "not good enough",
        "I'm done with you lot",
    ),
    "love": ("love", "adore", "really like", "am obsessed with", "am loving", "dig", "enjoy"),
    "thanks": (
        "thanks",
        "thank you",
        "cheers",
        "ta",
        "much appreciated",
        "thx",
        "many thanks",
        "ty",
        "treasure",
        "can't get enough of",
        "rate",
        "am smitten with",
        "appreciate it",
        "grateful",
        "bless you",
        "merci",
        "nice one",
    ),
    "where": (
        "where is",
        "where's",
        "any sign of",
        "what happened to",
        "any news on",
        "status of",
        "what's going on with",
        "any update on",
        "tracking for",
        "ETA on",
        "whereabouts of",
        "can you locate",
        "whats happening with",
        "no sign of",
        "have you lost",
        "how is",
        "progress on",
        "any movement on",
        "info on",
    ),
    "arrive": (
        "arrive",
        "get here",
        "show up",
        "turn up",
        "come",
        "be delivered",
        "land",
        "reach me",
        "be here",
    ),
    "arrived": (
        "arrived",
        "got here",
        "shown up",
        "turned up",
        "come",
        "been delivered",
        "landed",
        "reached me",
        "materialised",
        "appeared",
        "made it",
        "been dropped off",
    ),
    "shipped": (
        "shipped",
        "been sent",
        "left",
        "been dispatched",
        "gone out",
        "been posted",
        "been mailed",
        "gone out for delivery",
        "been dispatched yet or not",
        "gone in the post",
        "been handed to the courier",
        "left your warehouse",
    ),
    "stop": ("stop", "quit", "cease", "end", "halt"),
    "remove": ("remove", "delete", "take", "drop", "erase", "scrub"),
    "sending": ("sending", "texting", "emailing", "messaging", "spamming", "contacting"),
    "list": (
        "list",
        "mailing list",
        "database",
        "contacts",
        "sms list",
        "subscriber list",
        "marketing list",
        "knock off",
        "give up",
        "pack in",
        "cut out",
        "pestering",
        "bombarding",
        "bugging",
        "hassling",
        "register",
        "system",
        "records",
        "distribution list",
    ),
    "msgs": ("texts", "messages", "emails", "ads", "promos", "offers", "newsletters", "sms"),
    "valid": ("valid", "active", "still good", "working", "live", "usable", "in date"),
    "apply": ("apply", "work", "count", "be accepted", "go through"),
    "attr": (
        "waterproof",
        "machine washable",
        "breathable",
        "vegan",
        "made of recycled material",
        "insulated",
        "lightweight",
        "adjustable",
        "reflective",
        "windproof",
        "stretchy",
        "dishwasher safe",
        "BPA free",
        "true to size",
        "unisex",
        "good for wide feet",
        "circulars",
        "blasts",
        "notifications",
        "reminders",
        "mailers",
        "redeemable",
        "current",
        "still on",
        "running",
        "good to use",
        "be honoured",
        "stack",
        "cover it",
        "kick in",
        "hypoallergenic",
        "packable",
        "quick drying",
        "non slip",
        "anti odour",
        "fleece lined",
        "sweat wicking",
    ),
    "color": ("black", "navy", "red", "olive", "white", "grey", "pink", "a darker colour"),
    "country": ("canada", "mexico", "the UK", "ireland", "australia", "germany"),
    "campaign": (
        "spring sale",
        "new arrivals",
        "loyalty offer",
        "restock",
        "weekend deal",
        "flash sale",
    ),
}

_CORES: dict[str, tuple[str, ...]] = {
    "unsubscribe": (
        "{stop} {sending} me",
        "please {remove} me from your {list}",
        "unsubscribe me",
        "{remove} me off your {list}",
        "no more {msgs} please",
        "opt me out",
        "I never signed up for this, {stop}",
        "how do I unsubscribe from these {msgs}",
        "{stop} sending me {product} {msgs}",
        "I don't want your {msgs} anymore",
        "{remove} my number",
        "{remove} my email from your {list}",
        "how do I {stop} getting these",
        "enough {msgs}, unsubscribe",
        "I want out of your {msgs}",
        "can you {stop} the {msgs}",
        "no thanks, {stop} {sending} me",
        "please cancel my subscription to the {msgs}",
        "{stop} {sending} this number",
        "not interested, {remove} me",
        "I don't need {msgs} about {product}s, {stop}",
        "kindly desist from {sending} me",
        "I'd like to be excluded from future {msgs}",
        "count me out of the {msgs}",
        "withdraw my consent for {msgs}",
        "I have had enough of these, {remove} me",
        "this number no longer wants {msgs}",
        "leave me alone, no more {msgs}",
    ),
    "order_status": (
        "{where} my {pkg}",
        "{where} my {product}",
        "{pkg} #{order} hasn't {arrived} yet",
        "I ordered the {product} {day} and still nothing",
        "when will my {pkg} {arrive}?",
        "has my {pkg} {shipped} yet",
        "my {product} was supposed to {arrive} {day}",
        "{where} {pkg} {order}?",
        "still waiting on my {pkg} from {day}",
        "is {pkg} {order} on its way?",
        "the tracking hasn't moved since {day}, {where} it",
        "can you check on {pkg} {order} please",
        "has the {product} I ordered {shipped}",
        "when does my {product} {arrive}",
        "my {pkg} says delivered but it's not here, can you check",
        "is the {product} I bought {day} out for delivery",
        "how long until my {pkg} gets here",
        "I paid {day}, has it {shipped}?",
        "no tracking email yet for {pkg} {order}",
        "wondering when the {product} will be with me",
        "has anything happened with {pkg} {order}",
        "the courier site shows nothing for {pkg} {order}",
        "could you tell me the dispatch date for my {product}",
        "what stage is my {pkg} at",
        "expected delivery for the {product}?",
        "it's been {days} days, is my {product} coming",
    ),
    "discount_question": (
        "does the {codeword} {code} {apply} on sale items?",
        "is {code} still {valid}",
        "can I use {code} on the {product}?",
        "how long does the sale last",
        "do you have a student {codeword}",
        "does {code} {apply} on the {product} or not?",
        "would the {codeword} {apply} to the {product}",
        "can I combine {code} with free shipping",
        "is there a {codeword} for first orders",
        "does the {pct}% off {apply} to the {product}",
        "any {codeword} for the {product}?",
        "when is the next sale",
        "will {code} {apply} if I order the {product} today?",
        "the {codeword} {code} doesn't seem to {apply}, am I entering it right?",
        "do I need a {codeword} for the {pct}% off or is it automatic",
        "is the {pct}% off online only or in store too",
        "can I still get the {pct}% off on an order from {day}?",
        "is {code} one use only",
        "what's the minimum spend for {code}",
        "do loyalty members get a better {codeword}",
        "does the {codeword} {apply} on the {product} in {color}?",
        "is the {codeword} {valid} until the weekend?",
        "am I eligible for the {pct}% off",
        "would the {codeword} cover delivery as well",
        "can a friend use my {codeword}",
        "what does {code} give me exactly",
        "is there an expiry on {code}",
        "does {code} exclude anything",
        "if I spend more do I get a bigger {codeword}",
    ),
    "complaint": (
        "my {product} {broke} after {days} days",
        "worst customer service ever, {demand}",
        "the {product} arrived {damaged}",
        "I was charged twice for {pkg} {order}",
        "you sent me the wrong size, {demand}",
        "{code} did not {apply} on the {product}, {demand}",
        "the {product} is not {attr} at all",
        "my {pkg} has not {shipped} after {days} days, {demand}",
        "I asked you to {stop} the {msgs} {day}",
        "this is the third time my {pkg} is late",
        "so {unhappy} with the quality of the {product}",
        "nobody answers the phone, {demand}",
        "still no refund for {pkg} {order}",
        "the {product} is not what the picture showed",
        "I am {unhappy} with this purchase",
        "your courier left my {pkg} in the rain",
        "{code} didn't {apply} and I was charged full price",
        "you advertised {pct}% off but I paid full price, {demand}",
        "the {codeword} was rejected at checkout and now the sale is over",
        "I unsubscribed {day} and you still send me {msgs}",
        "the {product} I ordered {day} never came and nobody replies",
        "returned the {product} {day} and still no money back",
        "the {product} does not fit at all, the size chart is wrong",
        "my {pkg} came with half the items missing",
        "waited {days} days for a {product} that was {damaged}",
        "the {pct}% off was never applied to my {pkg}",
        "{unhappy}, the {product} {broke} on the first day",
        "frankly the {product} is rubbish",
        "I've been overcharged on {pkg} {order}",
        "the quality has really gone downhill, {demand}",
        "the {product} {broke} within a week, {unhappy}",
        "three emails and no answer about my {pkg}, {demand}",
        "paid for express and it took {days} days",
        "the stitching on the {product} {broke} straight away",
    ),
    "product_question": (
        "does the {product} come in {color}?",
        "is the {product} {attr}",
        "what sizes does the {product} come in",
        "how heavy is the {product}",
        "do you have the {product} in a size {size}?",
        "the {product} is {attr}, right?",
        "is the {product} not {attr}?",
        "what's the difference between the {product} and the {product2}",
        "is the {product} back in stock",
        "what is the {product} made of",
        "does the {product} run small?",
        "the {product} I ordered {day}, is it {attr}?",
        "my {pkg} came, how do I wash the {product}?",
        "before I order, is the {product} {attr}",
        "will the {product} fit a size {size}",
        "can I return the {product} if it doesn't fit?",
        "does the {product} have pockets",
        "got the {product} {day}, is it {attr}?",
        "would the {product} suit someone size {size}",
        "is the {color} {product} {attr} too",
        "is there a size guide for the {product}",
        "how does the {product} compare to the {product2}",
        "is the {product} suitable for winter",
        "what's the warranty on the {product}",
        "does the {product} shrink in the wash",
        "could you tell me the dimensions of the {product}",
        "is the {product} {attr} or not",
    ),
    "positive": (
        "{love} it",
        "{great}, {thanks}",
        "{great} deal",
        "just ordered the {product}!",
        "I {love} my new {product}",
        "{code} did {apply} on the {product}, {thanks}",
        "the {product} really is {attr}, {love} it",
        "my {pkg} has {shipped} already, {great}",
        "you guys are the best",
        "{thanks} for the reminder",
        "{great} service, my {product} came early",
        "yes please",
        "the {product} fits perfectly",
        "{great}, will check it out",
        "best {product} I've ever owned",
        "the {codeword} worked, {thanks}!",
        "no complaints, the {product} is {great}",
        "can't complain, it arrived {day}",
        "don't {stop} the {msgs}, I {love} the deals",
        "got my {pkg}, {great}",
        "used {code} and saved a lot, {thanks}",
        "so {happy} with the {product}",
        "the {product} is {great}, buying another one",
        "not bad at all",
        "really {happy}, {thanks}",
        "what a bargain, {thanks}",
        "exactly what I wanted",
        "{happy} with the service as always",
        "the {product} exceeded my expectations",
        "keep the deals coming",
        "five stars from me",
        "this made my day, {thanks}",
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
        "do you ship to {country}",
        "can I update my phone number",
        "is this about my account?",
        "I think you have the wrong person",
        "do you sell gift cards",
        "where is your nearest shop",
        "who do I talk to about a partnership",
        "can I pick up in store",
        "are you open on bank holidays",
        "what's your phone number",
        "is this a scam",
        "do you have an app",
        "who owns this company",
        "how do I reset my password",
        "can I speak to someone in person",
    ),
}
# Bare acknowledgements: labellers file them as positive or other, so their label is a coin toss.
_ACKS = (
    "ok",
    "k",
    "okay",
    "sure",
    "noted",
    "fine",
    "alright",
    "got it",
    "received",
    "cool",
    "yep",
    "ok thanks",
    "right",
    "mm",
    "will do",
    "seen",
    "sounds good",
    "👍",
    "ok 👍",
    "thx",
)
_STOPS = (
    "STOP",
    "stop",
    "Stop",
    "STOP!!",
    "unsubscribe",
    "STOP ALL",
    "opt out",
    "quit",
    "cancel",
    "end",
    "STOPP",
    "stahp",
    "please stop",
    "Stop.",
    "remove me",
)

_FOREIGN: dict[str, tuple[str, ...]] = {
    "unsubscribe": (
        "no quiero recibir más mensajes",
        "désabonnez-moi s'il vous plaît",
        "bitte abmelden",
        "dejen de escribirme",
        "arrêtez les sms",
        "keine Werbung mehr bitte",
    ),
    "order_status": (
        "¿dónde está mi pedido {order}?",
        "où est ma commande ?",
        "wo bleibt meine Bestellung",
        "mi pedido no ha llegado",
        "ma commande n'est pas arrivée",
        "wann wird mein Paket geliefert?",
    ),
    "discount_question": (
        "¿el código {code} sirve para rebajas?",
        "le code {code} est-il encore valable ?",
        "gilt der Code {code} auch für Sale-Artikel?",
        "¿hay descuento para estudiantes?",
        "la réduction de {pct}% s'applique à tout ?",
    ),
    "complaint": (
        "el producto llegó roto",
        "très déçu de la qualité",
        "die Lieferung war beschädigt",
        "me cobraron dos veces",
        "toujours pas remboursé",
        "schlechtester Kundenservice",
    ),
    "product_question": (
        "¿la chaqueta es impermeable?",
        "est-ce que ça taille petit ?",
        "gibt es das in Schwarz?",
        "¿qué tallas tienen?",
        "c'est lavable en machine ?",
    ),
    "positive": (
        "¡me encanta, gracias!",
        "merci beaucoup !",
        "super, danke!",
        "muy buen servicio",
        "parfait, merci",
        "toll, vielen Dank",
    ),
    "other": (
        "¿quién es?",
        "qui êtes-vous ?",
        "falsche Nummer",
        "¿tienen tienda física?",
        "vous livrez au Canada ?",
    ),
}

_OPENERS = (
    "hi",
    "hey",
    "hello",
    "hi there,",
    "good morning",
    "Hi team,",
    "yo",
    "excuse me,",
    "Dear customer service,",
    "ok so",
    "hiya",
    "morning!",
    "um",
    "so",
    "Hello,",
    "hey guys",
)
# Context before the request: it borrows other intents' words, so only the request decides.
_CONTEXTS = (
    "I got your text about the {campaign}.",
    "re: your {campaign} email.",
    "I ordered a {product} {day}.",
    "my friend recommended you.",
    "I've bought from you before.",
    "saw the {pct}% off message.",
    "I'm on your VIP list.",
    "about the {product}:",
    "regarding order {order}:",
    "just got this message.",
    "I have been a customer for years.",
    "I'm writing from my phone.",
    "I {love} your stuff usually.",
    "last time my {pkg} was late.",
    "I used {code} before.",
    "I almost unsubscribed.",
    "my last {product} {broke} but whatever.",
    "the {product} I got {day} is {great}.",
    "I was going to complain but never mind.",
    "your {msgs} are a bit much.",
    "I returned a {product} once.",
    "{thanks} for the quick reply last time.",
)
_HEDGES = (
    "not sure if this is the right place but",
    "sorry to bother you,",
    "maybe a silly question but",
    "honestly",
    "just wondering,",
    "quick question,",
    "I guess",
    "so basically",
)
_CLOSERS = (
    "thanks",
    "thx",
    "pls",
    "please",
    "asap",
    "- Sam",
    "- Maria",
    "cheers",
    "ty",
    "!!!",
    "thank you!",
    "best, J.",
    "x",
    "regards",
    "many thanks",
    "?",
)
_FILLER = (
    "My wife told me to write to you.",
    "I already emailed twice.",
    "Honestly I expected better.",
    "Anyway.",
    "Let me know as soon as possible.",
    "Sorry for typos.",
    "This is not the first time.",
    "I tried the website chat but it did not help.",
    "Thanks in advance for your help.",
    "I liked the last sale a lot.",
    "The {product} I got in the winter is still going strong.",
    "My neighbour ordered the same thing.",
    "I usually shop in the store.",
    "I will tell my friends about this.",
)
_TEXTING = {
    "you": "u",
    "your": "ur",
    "please": "pls",
    "thanks": "thx",
    "order": "ordr",
    "when": "wen",
    "have": "hav",
    "are": "r",
    "to": "2",
    "for": "4",
    "the": "da",
    "is": "iz",
    "what": "wat",
    "because": "cos",
    "message": "msg",
    "tomorrow": "tmrw",
}
_EMOJI = ("🙂", "😡", "👍", "🙏", "😂", "❤️", "🔥", "😤", "🤔", "✨")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


@functools.cache
def _zipf_cdf(size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1)
    return np.cumsum(weights / weights.sum())


def _pick_zipf(rng: np.random.Generator, options: Sequence[str]) -> str:
    """Pick with Zipf's law, as words and phrasings occur: a few often, a long tail rarely."""
    index = int(np.searchsorted(_zipf_cdf(len(options)), rng.random(), side="right"))
    return options[min(index, len(options) - 1)]


def _fill(template: str, rng: np.random.Generator) -> str:
    """Fill a piece's {slots}; every slot draws one of its interchangeable words."""
    values = {name: _pick_zipf(rng, words) for name, words in _WORDS.items()}
    values["product2"] = _pick(rng, [p for p in _WORDS["product"] if p != values["product"]])
    values["order"] = str(int(rng.integers(100000, 999999)))
    values["days"] = str(int(rng.integers(2, 40)))
    values["pct"] = str(int(_pick(rng, ("10", "15", "20", "25", "30", "40"))))
    values["size"] = str(int(rng.integers(5, 13)))
    return template.format(**values)


def _core(intent: str, rng: np.random.Generator) -> str:
    """The part of a reply that carries its intent, in English or, rarely, another language."""
    if rng.random() < _FOREIGN_RATE:
        return _fill(_pick(rng, _FOREIGN[intent]), rng)
    return _fill(_pick_zipf(rng, _CORES[intent]), rng)


def _compose(intents: list[str], rng: np.random.Generator) -> str:
    """A reply around one or two cores: opener, context, hedge, the cores, closer, filler."""
    parts = []
    roll = rng.random(5)
    if roll[0] < 0.25:
        parts.append(_pick(rng, _OPENERS))
    if roll[1] < 0.35:
        parts.append(_fill(_pick(rng, _CONTEXTS), rng))
    if roll[2] < 0.15:
        parts.append(_pick(rng, _HEDGES))
    parts.append(_core(intents[0], rng))
    for intent in intents[1:]:
        parts.append(_pick(rng, ("also", "and", "also,", "btw", "plus", "P.S.", "oh and")))
        parts.append(_core(intent, rng))
    if roll[3] < 0.25:
        parts.append(_pick(rng, _CLOSERS))
    if roll[4] < 0.05:
        extra = rng.choice(len(_FILLER), size=int(rng.integers(2, 8)), replace=False)
        parts.extend(_fill(_FILLER[i], rng) for i in extra)
    return " ".join(parts)


def _typo(text: str, rng: np.random.Generator) -> str:
    """Swap, drop or double a letter somewhere in the text."""
    if len(text) < 6:
        return text
    i = int(rng.integers(1, len(text) - 2))
    kind = rng.random()
    if kind < 0.4:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind < 0.7:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _texting(text: str) -> str:
    """Shorten words the way phone replies do ("pls", "ur", "u")."""
    return " ".join(_TEXTING.get(word, word) for word in text.split(" "))


def _mess(text: str, rng: np.random.Generator) -> str:
    """Apply the texting, casing, spacing, emoji, typo and signature quirks of real replies."""
    roll = rng.random(7)
    if roll[6] < 0.12:
        text = _texting(text)
    if roll[0] < 0.10:
        text = text.upper()
    elif roll[0] < 0.35:
        text = text.lower()
    for _ in range(int(roll[1] < 0.35) + int(roll[1] < 0.15) + int(roll[1] < 0.05)):
        text = _typo(text, rng)
    if roll[2] < 0.12:
        text = f"{text} {_pick(rng, _EMOJI)}"
    if roll[3] < 0.10:
        text = f"  {text.replace(' ', '  ', 1)}\t"
    if roll[4] < 0.03:
        text = f"{text}\n\nSent from my iPhone"
    return text


def _reply(intent: str, rng: np.random.Generator) -> tuple[str, list[str]]:
    """A reply whose first request is `intent`, and the intents it carries, first one first."""
    if intent == "unsubscribe" and rng.random() < 0.55:
        return _pick(rng, _STOPS), [intent]
    if intent in ("positive", "other") and rng.random() < _ACK_RATE:
        return _mess(_pick(rng, _ACKS), rng), [_pick(rng, ("positive", "other"))]
    intents = [intent]
    if rng.random() < _SECOND_REQUEST_RATE:
        seconds = [second for first, second in _PAIRS if first == intent]
        if seconds:
            intents.append(_pick(rng, seconds))
    return _mess(_compose(intents, rng), rng), intents


def _mislabel(intent: str, rng: np.random.Generator) -> str:
    """The label a careless labeller gives: mostly a confusable intent, else any other one."""
    if rng.random() < 2 / 3:
        return _pick(rng, _CONFUSABLE[intent])
    return _pick(rng, [label for label in LABELS if label != intent])


def generate(rows: int = 6000, seed: int = 7, multi_label: bool = False) -> pd.DataFrame:
    """A table of `rows` campaign replies; the same `rows` and `seed` give the same table.

    With `multi_label`, the `intent` column holds each reply's list of intents (in LABELS
    order) instead of the intent of its first request.
    """
    rng = np.random.default_rng(seed)
    intents = rng.choice(len(LABELS), size=rows, p=_WEIGHTS)
    customers = rng.integers(10_000, 10_000 + max(rows // 3, 1), size=rows)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 180 * 24 * 3600, size=rows))
    texts, label_sets = [], []
    # The wrong labels draw from their own stream, so the replies do not depend on NOISE_RATE.
    noise = np.random.default_rng([seed, 1])
    for intent in intents:
        text, carried = _reply(LABELS[intent], rng)
        # Human labellers get a share of labels wrong, in every split.
        if noise.random() < NOISE_RATE:
            carried = [_mislabel(carried[0], noise), *carried[1:]]
        texts.append(text)
        label_sets.append(carried)
    # Empty and whitespace-only replies, as exports of real reply streams contain.
    for i in rng.choice(rows, size=max(rows // 100, 1), replace=False):
        texts[i] = _pick(rng, ("", " ", "\n", "   "))
    if multi_label:
        labels: list = [[label for label in LABELS if label in carried] for carried in label_sets]
    else:
        labels = [carried[0] for carried in label_sets]
    return pd.DataFrame(
        {
            "message_id": [f"m{seed:02d}{i:07d}" for i in range(rows)],
            "customer_id": [f"c{c}" for c in customers],
            "channel": rng.choice(("sms", "email"), size=rows, p=(0.7, 0.3)),
            "campaign": rng.choice(("spring_sale", "new_arrivals", "loyalty", "restock"), rows),
            "received_at": [(start + timedelta(seconds=int(s))).isoformat() for s in seconds],
            "reply_text": texts,
            "intent": labels,
        }
    )


def write_sample(target: str, rows: int = 6000, seed: int = 7, multi_label: bool = False) -> str:
    """Write the sample table to a local path or s3:// URI; the format follows the suffix.

    Multi-label lists stay lists in Parquet and JSON Lines and are joined by LABEL_DELIMITER in
    CSV and TSV (prepare reads them back with `label_delimiter="|"`).
    """
    name = target.removesuffix(".gz")
    fmt = next((f for f in ("tsv", "jsonl", "parquet") if name.endswith(f".{f}")), "csv")
    frame = generate(rows, seed, multi_label)
    if multi_label and fmt in ("csv", "tsv"):
        frame["intent"] = frame["intent"].map(LABEL_DELIMITER.join)
    table = pa.Table.from_pandas(frame, preserve_index=False)
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
    parser.add_argument(
        "--multi-label",
        action="store_true",
        help=f"label lists (joined by {LABEL_DELIMITER!r} in CSV/TSV) instead of one intent",
    )
    args = parser.parse_args(argv)
    print(write_sample(args.out, args.rows, args.seed, args.multi_label))


if __name__ == "__main__":
    run_cli(main)
