"""The project's own PII message set: customer and staff messages with typed personal data, and
messages without any that use product and policy words shaped like data.

Written before any recognizer was tuned on it. Templates and value formats come from how bank
customers and staff write, not from Steward's recognizers. Two halves with disjoint templates:
``messages.jsonl`` (dev: may be read while building recognizers) and ``messages-heldout.jsonl``
(never tuned on; reported separately). Deterministic: the same seed writes the same files.

Each line: ``{"id", "text", "entities": [{"kind", "start", "end"}]}``; a message without
personal data has no entities. Kinds: CARD, CVV, EXPIRY, SSN, PASSPORT, DRIVER_LICENSE, IBAN,
ACCOUNT, ROUTING, SORT_CODE, EMAIL, PHONE, NAME, ADDRESS.

Usage: python -m benchmarks.pii.messages [--out benchmarks/pii]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
from collections.abc import Callable
from pathlib import Path

SEED = 20250216
PER_HALF = 320  # messages with personal data per half; as many without

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "Michael",
    "Jennifer",
    "David",
    "Linda",
    "William",
    "Elizabeth",
    "Aisha",
    "Omar",
    "Priya",
    "Rahul",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Oluwaseun",
    "Chiamaka",
    "Kwame",
    "Ama",
    "Mateo",
    "Sofia",
    "Diego",
    "Lucia",
    "Sean",
    "Siobhan",
    "Fatima",
    "Yusuf",
    "Anh",
    "Minh",
    "Ingrid",
    "Lars",
    "Katarzyna",
    "Piotr",
    "Dmitri",
    "Olga",
    "Noah",
    "Emma",
    "Liam",
    "Olivia",
    "Ethan",
    "Ava",
    "Jamal",
    "Keisha",
    "Carlos",
    "Gabriela",
    "Thomas",
    "Sarah",
    "Daniel",
    "Rebecca",
    "Ahmed",
    "Leila",
    "Grace",
    "Samuel",
    "Nkechi",
    "Tunde",
    "Hannah",
    "Joseph",
    "Chloe",
    "Benjamin",
    "Zara",
    "Arjun",
    "Deepa",
    "Kenji",
    "Sakura",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Patel",
    "Sharma",
    "Gupta",
    "Nguyen",
    "Tran",
    "Chen",
    "Wang",
    "Zhang",
    "Kim",
    "Park",
    "Tanaka",
    "Sato",
    "Kowalski",
    "Nowak",
    "Ivanova",
    "Petrov",
    "Schmidt",
    "Muller",
    "Fischer",
    "Rossi",
    "Bianchi",
    "Dubois",
    "Moreau",
    "O'Brien",
    "Murphy",
    "Kelly",
    "MacDonald",
    "Fitzgerald",
    "Haddad",
    "Khan",
    "Hussain",
    "Ali",
    "Cohen",
    "Levy",
    "Silva",
    "Santos",
    "Costa",
    "Nakamura",
    "Abernathy",
    "Whitfield",
    "Delacroix",
    "Okonkwo",
    "Balogun",
    "Romero",
    "Castillo",
    "van der Berg",
    "De la Cruz",
]
US_STREETS = [
    "Main",
    "Maple",
    "Oak",
    "Cedar",
    "Pine",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Sunset",
    "Lincoln",
    "Jefferson",
    "Highland",
    "Willow",
    "Meadow",
    "Ridge",
    "Forest",
    "Church",
    "Spring",
    "Chestnut",
    "Walnut",
    "Franklin",
    "Madison",
    "Cherry",
    "Magnolia",
]
US_SUFFIX = [
    "Street",
    "St",
    "St.",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Drive",
    "Dr",
    "Lane",
    "Ln",
    "Boulevard",
    "Blvd",
    "Court",
    "Ct",
    "Way",
    "Place",
    "Terrace",
    "Circle",
]
US_CITIES = [
    ("Springfield", "IL"),
    ("Austin", "TX"),
    ("Columbus", "OH"),
    ("Denver", "CO"),
    ("Charlotte", "NC"),
    ("Portland", "OR"),
    ("Tampa", "FL"),
    ("Newark", "NJ"),
    ("Madison", "WI"),
    ("Fresno", "CA"),
    ("Albany", "NY"),
    ("Boise", "ID"),
    ("Richmond", "VA"),
    ("Tucson", "AZ"),
    ("Omaha", "NE"),
    ("Savannah", "GA"),
]
UK_STREETS = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Park Avenue",
    "Kings Road",
    "Queensway",
    "Mill Lane",
    "The Crescent",
    "Albert Street",
    "Windsor Close",
    "Orchard Way",
]
UK_TOWNS = [
    ("Leeds", "LS"),
    ("Manchester", "M"),
    ("Bristol", "BS"),
    ("Glasgow", "G"),
    ("Cardiff", "CF"),
    ("Norwich", "NR"),
    ("Reading", "RG"),
    ("York", "YO"),
    ("London", "SW"),
    ("London", "E"),
    ("Brighton", "BN"),
    ("Belfast", "BT"),
]
EMAIL_DOMAINS = [
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "aol.com",
    "btinternet.com",
    "web.de",
    "orange.fr",
    "fastmail.fm",
    "gmx.net",
    "mail.ru",
    "qq.com",
    "comcast.net",
    "hartley-law.consulting",
    "okafor.family",
    "studio.photography",
    "acme.io",
    "smithandsons.co.za",
    "kanzlei.berlin",
    "riverside.dental",
    "nexus.ai",
    "uni-example.ac.uk",
    "example.museum",
    "famille.bzh",
    "tanaka.co.jp",
    "corp.internal",
    "brightpath.xyz",
    "halden.engineering",
    "mw.nz",
    "my-shop.store",
    "wanderlust.travel",
    "cooper.lawyer",
    "alpine.ch",
]
US_AREA = [
    "212",
    "415",
    "312",
    "617",
    "305",
    "713",
    "404",
    "206",
    "503",
    "702",
    "614",
    "919",
    "480",
    "615",
    "818",
    "646",
    "347",
    "917",
    "216",
    "412",
]

FULLWIDTH = str.maketrans(string.digits, "".join(chr(0xFF10 + i) for i in range(10)))


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _group(value: str, sizes: list[int], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(value[pos : pos + size])
        pos += size
    return sep.join(out)


def card(r: random.Random) -> str:
    net = r.choice(["visa", "visa", "mc", "mc2", "amex", "disc", "visa13"])
    prefix, length = {
        "visa": ("4", 16),
        "visa13": ("4", 16),
        "mc": (str(r.randint(51, 55)), 16),
        "mc2": (str(r.randint(2221, 2720)), 16),
        "amex": (r.choice(["34", "37"]), 15),
        "disc": ("6011", 16),
    }[net]
    body = prefix + _digits(r, length - 1 - len(prefix))
    pan = body + luhn_digit(body)
    sep = r.choice([" ", " ", "-", "", " "])
    if length == 15:
        return _group(pan, [4, 6, 5], sep)
    return _group(pan, [4, 4, 4, 4], sep) if sep or r.random() < 0.5 else pan


def cvv(r: random.Random) -> str:
    return _digits(r, r.choice([3, 3, 3, 4]))


def expiry(r: random.Random) -> str:
    m, y = r.randint(1, 12), r.randint(25, 32)
    return r.choice(
        [
            f"{m:02d}/{y}",
            f"{m:02d}/{y}",
            f"{m}/{y}",
            f"{m:02d}/20{y}",
            f"{m:02d}-{y}",
            f"{m:02d} / {y}",
            f"{m:02d}/{y}",
            f"{m:02d}.{y}",
        ]
    )


def ssn(r: random.Random) -> str:
    area = r.choice([a for a in range(1, 900) if a != 666])
    group, serial = r.randint(1, 99), r.randint(1, 9999)
    sep = r.choice(["-", "-", " ", "", ""])
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def passport(r: random.Random) -> str:
    return r.choice(
        [
            _digits(r, 9),
            r.choice(string.ascii_uppercase) + _digits(r, 8),
            r.choice("CEFGHJKLMNPRTVWXYZ") + _digits(r, 8),
            "".join(r.choice(string.ascii_uppercase) for _ in range(2)) + _digits(r, 7),
        ]
    )


def driver_license(r: random.Random) -> str:
    last = r.choice(LAST).upper().replace("'", "").replace(" ", "")[:5].ljust(5, "9")
    return r.choice(
        [
            r.choice(string.ascii_uppercase) + _digits(r, 7),  # California-style
            f"{_digits(r, 3)} {_digits(r, 3)} {_digits(r, 3)}",  # New York-style
            f"{r.choice(string.ascii_uppercase)}{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 2)}-"
            f"{_digits(r, 3)}-{_digits(r, 1)}",  # Florida-style
            _digits(r, 8),  # Texas-style
            f"{last}{_digits(r, 6)}{r.choice(string.ascii_uppercase)}"
            f"{r.choice(string.ascii_uppercase)}9{r.choice(string.ascii_uppercase)}"
            f"{r.choice(string.ascii_uppercase)}",  # UK DVLA-style (16 characters)
        ]
    )


_IBAN_BBAN: dict[str, Callable[[random.Random], str]] = {
    "GB": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 14),
    "DE": lambda r: _digits(r, 18),
    "FR": lambda r: _digits(r, 23),
    "NL": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 10),
    "ES": lambda r: _digits(r, 20),
    "IT": lambda r: r.choice(string.ascii_uppercase) + _digits(r, 22),
    "IE": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 14),
    "BE": lambda r: _digits(r, 12),
    "CH": lambda r: _digits(r, 17),
    "PL": lambda r: _digits(r, 24),
}


def iban(r: random.Random) -> str:
    country = r.choice(list(_IBAN_BBAN))
    bban = _IBAN_BBAN[country](r)
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    style = r.random()
    if style < 0.55:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if style < 0.9:
        return value
    return value.lower() if style < 0.95 else "-".join(value[i : i + 4] for i in range(0, 24, 4))


def account(r: random.Random) -> str:
    n = r.choice([8, 9, 10, 10, 11, 12, 12, 14])
    value = _digits(r, n)
    if r.random() < 0.2:
        return value[:4] + r.choice(["-", " "]) + value[4:]
    return value


def routing(r: random.Random) -> str:
    while True:
        d = [
            *map(int, f"{r.choice([*range(1, 13), *range(21, 33)]):02d}"),
            *map(int, _digits(r, 6)),
        ]
        for last in range(10):
            digits = [*d, last]
            w = 3 * (digits[0] + digits[3] + digits[6]) + 7 * (digits[1] + digits[4] + digits[7])
            if (w + digits[2] + digits[5] + digits[8]) % 10 == 0:
                return "".join(map(str, digits))


def sort_code(r: random.Random) -> str:
    a, b, c = r.randint(1, 99), r.randint(0, 99), r.randint(0, 99)
    sep = r.choice(["-", "-", " ", ""])
    return f"{a:02d}{sep}{b:02d}{sep}{c:02d}"


def email(r: random.Random) -> str:
    f, last = r.choice(FIRST).lower(), r.choice(LAST).lower().replace("'", "").replace(" ", "")
    local = r.choice(
        [
            f"{f}.{last}",
            f"{f[0]}{last}",
            f"{f}_{last}{r.randint(1, 99)}",
            f"{f}{r.randint(70, 99)}",
            f"{f}+bank",
            f"{last}.{f}",
            f"{f}-{last}",
            f"{f}.{last}{r.randint(1, 9)}",
        ]
    )
    value = f"{local}@{r.choice(EMAIL_DOMAINS)}"
    if r.random() < 0.1:
        value = value[0].upper() + value[1:]
    return value.upper() if r.random() < 0.03 else value


def phone(r: random.Random) -> str:
    a, x, n = r.choice(US_AREA), str(r.randint(201, 989)), _digits(r, 4)
    return r.choice(
        [
            f"({a}) {x}-{n}",
            f"{a}-{x}-{n}",
            f"{a}.{x}.{n}",
            f"+1 {a} {x} {n}",
            f"1-{a}-{x}-{n}",
            f"{a} {x} {n}",
            f"{a}{x}{n}",
            f"+1 ({a}) {x}-{n}",
            f"+44 7{_digits(r, 3)} {_digits(r, 6)}",
            f"07{_digits(r, 3)} {_digits(r, 6)}",
            f"020 {_digits(r, 4)} {_digits(r, 4)}",
            f"+49 30 {_digits(r, 8)}",
            f"+33 6 {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)}",
            f"+91 {_digits(r, 5)} {_digits(r, 5)}",
            f"+61 4{_digits(r, 2)} {_digits(r, 3)} {_digits(r, 3)}",
        ]
    )


def name(r: random.Random) -> str:
    f, last = r.choice(FIRST), r.choice(LAST)
    value = r.choice(
        [
            f"{f} {last}",
            f"{f} {last}",
            f"{f} {r.choice(string.ascii_uppercase)}. {last}",
            f"{f} {r.choice(FIRST)} {last}",
            f"{f} {last}-{r.choice(LAST)}",
        ]
    )
    return value.lower() if r.random() < 0.08 else value


def address(r: random.Random) -> str:
    if r.random() < 0.65:
        street = f"{r.randint(1, 9899)} {r.choice(US_STREETS)} {r.choice(US_SUFFIX)}"
        if r.random() < 0.25:
            street += r.choice([", Apt ", " Apt ", ", Unit ", " #", ", Suite "]) + str(
                r.randint(1, 40)
            )
        city, state = r.choice(US_CITIES)
        value = r.choice(
            [
                street,
                f"{street}, {city}, {state} {_digits(r, 5)}",
                f"{street}, {city} {state}",
                f"{street} {city} {state} {_digits(r, 5)}",
            ]
        )
    else:
        town, area = r.choice(UK_TOWNS)
        postcode = (
            f"{area}{r.randint(1, 20)} {r.randint(1, 9)}"
            f"{r.choice('ABDEFGHJLNPQRSTUWXYZ')}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}"
        )
        street = f"{r.randint(1, 240)} {r.choice(UK_STREETS)}"
        if r.random() < 0.2:
            street = f"Flat {r.randint(1, 30)}, {street}"
        value = r.choice([street, f"{street}, {town} {postcode}", f"{street}, {town}, {postcode}"])
    return value.lower() if r.random() < 0.08 else value


VALUES: dict[str, Callable[[random.Random], str]] = {
    "CARD": card,
    "CVV": cvv,
    "EXPIRY": expiry,
    "SSN": ssn,
    "PASSPORT": passport,
    "DRIVER_LICENSE": driver_license,
    "IBAN": iban,
    "ACCOUNT": account,
    "ROUTING": routing,
    "SORT_CODE": sort_code,
    "EMAIL": email,
    "PHONE": phone,
    "NAME": name,
    "ADDRESS": address,
}
# Filler slots that are not personal data (lower-case slot names).
FILLERS: dict[str, Callable[[random.Random], str]] = {
    "amount": lambda r: (
        r.choice(["$", "$", "£", "€"])
        + r.choice(
            [
                str(r.randint(5, 999)),
                f"{r.randint(1, 45)},{r.randint(0, 999):03d}",
                f"{r.randint(1, 999)}.{r.randint(0, 99):02d}",
            ]
        )
    ),
    "pct": lambda r: r.choice(
        [
            f"{r.randint(0, 29)}.{r.randint(0, 99):02d}%",
            f"{r.randint(1, 25)}%",
            f"{r.randint(0, 5)}.{r.randint(0, 9)}%",
        ]
    ),
    "date": lambda r: r.choice(
        [
            f"{r.randint(1, 12)}/{r.randint(1, 28)}/20{r.randint(20, 26)}",
            f"20{r.randint(20, 26)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
            f"{r.choice(['January', 'March', 'June', 'Sept.', 'October', 'Dec'])} "
            f"{r.randint(1, 28)}, 20{r.randint(20, 26)}",
        ]
    ),
    "n": lambda r: str(r.randint(2, 90)),
    "last4": lambda r: _digits(r, 4),
    "ref": lambda r: r.choice(
        [
            f"REF-{_digits(r, 6)}",
            f"CASE-20{r.randint(20, 26)}-{_digits(r, 5)}",
            f"#{_digits(r, 7)}",
            f"TKT{_digits(r, 6)}",
            f"SR {_digits(r, 8)}",
            f"{_digits(r, 10)}",
        ]
    ),
    "code": lambda r: r.choice(
        [
            f"PRD-{_digits(r, 4)}-{_digits(r, 2)}",
            f"{_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 3)}",
            f"KB-{_digits(r, 4)} rev {r.randint(1, 9)}",
            f"FORM {_digits(r, 4)}-{r.choice('ABC')}",
            f"SKU {_digits(r, 6)}",
            f"{_digits(r, 2)}-{_digits(r, 7)}",
            f"POL-{_digits(r, 3)}.{_digits(r, 2)}",
        ]
    ),
    "time": lambda r: r.choice(
        [
            f"{r.randint(7, 11)}:{r.choice(['00', '30'])} am",
            f"{r.randint(1, 6)}:{r.choice(['00', '30'])} pm ET",
            f"{r.randint(8, 17):02d}:{r.choice(['00', '15', '30'])}",
        ]
    ),
    "branch": lambda r: r.choice(
        [
            "Elm Street",
            "Harbor Point",
            "Riverside",
            "Kingsway",
            "Maple Grove",
            "Downtown",
            "Westfield Mall",
            "Union Square",
            "Jackson Heights",
            "Victoria Park",
            "Lincoln Center",
            "Oakridge",
        ]
    ),
    "product": lambda r: r.choice(
        [
            "Gold card",
            "Platinum Rewards card",
            "Everyday Checking",
            "Premier Savings",
            "Visa Signature",
            "World Elite Mastercard",
            "Student Advantage account",
            "12-month CD",
            "HELOC",
            "Cash Back Plus",
            "Business Essentials",
            "Travel Rewards Visa",
            "Young Saver",
            "Sapphire Mortgage",
            "Flex ISA",
        ]
    ),
}

DEV_POS = [
    "Hi, I want to report my card {CARD} as stolen. Name on the card is {NAME}.",
    "my card number is {CARD} exp {EXPIRY} cvv {CVV} - why was it declined at the gas station?",
    "Card: {CARD}\nExpiry: {EXPIRY}\nCVC: {CVV}\nPlease update my autopay.",
    "Can you check if a charge of {amount} went through on {CARD}? the security code is {CVV}.",
    "I paid with card {CARD}, expires {EXPIRY}, 3 digit code {CVV} but the merchant says failed",
    "Customer {NAME} called about card ending {last4}; full number {CARD}, valid thru {EXPIRY}.",
    "Please close the card {CARD}. I already cut it up.",
    "What's the status of my replacement? Old card was {CARD}, CVV2 {CVV}.",
    "My SSN is {SSN}, can you confirm my identity now?",
    "For the tax form: social security number {SSN}, name {NAME}.",
    "SSN {SSN} - customer says the 1099 shows a different number",
    "Verify caller: {NAME}, ssn {SSN}, date of account opening {date}.",
    "I renewed my passport, new passport number is {PASSPORT}. Please update KYC.",
    "KYC doc received: passport no. {PASSPORT} for {NAME}, expiry on file {date}.",
    "Customer presented driver's license {DRIVER_LICENSE} at the {branch} branch.",
    "ID check: DL # {DRIVER_LICENSE}, name {NAME}, address {ADDRESS}.",
    "Please send the funds to IBAN {IBAN}. Beneficiary is {NAME}.",
    "incoming wire from {IBAN} hasn't arrived, sent {date}",
    "Can you set up a standing order to {IBAN} for {amount} monthly?",
    "My account number is {ACCOUNT} and I don't recognise a debit of {amount}.",
    "Please move {amount} from savings to checking acct {ACCOUNT}.",
    "Direct deposit form: routing {ROUTING}, account {ACCOUNT}.",
    "Is {ROUTING} the right routing number for my direct deposit? acct {ACCOUNT}",
    "My employer needs the ABA routing number, I have {ROUTING} - is that correct?",
    "Transfer to sort code {SORT_CODE}, account number {ACCOUNT}, name {NAME}.",
    "UK payee details: {SORT_CODE} / {ACCOUNT}",
    "You can email me at {EMAIL} with the statement.",
    "Please update my email to {EMAIL}, the old one no longer works.",
    "customer asked us to reply to {EMAIL} rather than by post",
    "Call me back on {PHONE}, I'm free after {time}.",
    "My mobile changed, it's now {PHONE}.",
    "Best number to reach me: {PHONE} (evenings).",
    "New address: {ADDRESS}. Please send the new card there.",
    "I moved to {ADDRESS}, can you update my statements?",
    "Send the replacement card to {ADDRESS}, attention {NAME}.",
    "Hello, this is {NAME}. I can't log in to online banking.",
    "My name is {NAME} and I'd like to dispute a transaction from {date}.",
    "{NAME} from the {branch} branch here - customer {NAME} wants to raise the limit on {CARD}.",
    "Joint account holder {NAME} should be added; her email is {EMAIL} and phone {PHONE}.",
    "Customer details: {NAME}, {ADDRESS}, tel {PHONE}, email {EMAIL}.",
    "Escalating: {NAME} (SSN {SSN}) reports fraud on account {ACCOUNT}.",
    "The wire to {NAME} at IBAN {IBAN} was returned, please advise.",
    "pls reset pin for card {CARD} my phone is {PHONE}",
    "Statement for {ACCOUNT} was sent to the wrong address, should be {ADDRESS}",
    "Passport {PASSPORT} and driver licence {DRIVER_LICENSE} both uploaded for {NAME}.",
    "I'm {NAME}, my card {CARD} expires {EXPIRY}, will the new one come automatically?",
    "Hey it's {NAME}, text me at {PHONE} when the loan is approved",
    "Beneficiary {NAME}, sort code {SORT_CODE}, acc no {ACCOUNT}, ref {ref}",
]
HELD_POS = [
    "Someone used my debit card {CARD} in another country yesterday!!",
    "card no {CARD} / exp. {EXPIRY} / cvc {CVV} pls charge {amount} for the annual fee",
    "Caller gave PAN {CARD}, expiration {EXPIRY} and security code {CVV} before I could stop her.",
    "Why does my Visa {CARD} keep getting declined online? The CVV is {CVV} and expiry {EXPIRY}.",
    "The card ending in {last4} is fine but {CARD} got blocked. Card expiry date {EXPIRY}.",
    "I typed CVV {CVV} but the site said invalid, is my card {CARD} frozen?",
    "social security # {SSN}",
    "Here is my Social Security Number: {SSN}. I need the mortgage pre-approval letter.",
    "Member {NAME}, SSN {SSN}, wants to freeze her credit.",
    "ssn: {SSN} dob on file matches",
    "Passport number {PASSPORT}, issued in {date}, for the account opening.",
    "Can I use my passport ({PASSPORT}) instead of a utility bill?",
    "Driving licence number {DRIVER_LICENSE} - is that enough ID for the branch?",
    "Her drivers license is {DRIVER_LICENSE}, I scanned it to the case.",
    "Please refund to my IBAN: {IBAN}",
    "Received SEPA transfer from {IBAN} with reference {ref}, customer asks who sent it.",
    "IBAN {IBAN} BIC unknown - can we still send {amount}?",
    "account # {ACCOUNT} shows overdrawn but I deposited {amount} this morning",
    "Checking account {ACCOUNT} - please stop payment on check {n}.",
    "Bank routing number {ROUTING} and account number {ACCOUNT} for payroll.",
    "routing no. {ROUTING}, acct no. {ACCOUNT}, name {NAME}",
    "For the ACH debit use RTN {ROUTING} and account {ACCOUNT}.",
    "My sort code is {SORT_CODE} and account {ACCOUNT}, can you confirm the payee?",
    "sort-code {SORT_CODE} acct {ACCOUNT} (Barclays) for the refund",
    "Contact me: {EMAIL}",
    "Forward the dispute letter to {EMAIL} and cc {EMAIL} please.",
    "The customer's e-mail on file, {EMAIL}, bounced.",
    "Phone: {PHONE}",
    "can u ring me at {PHONE} before {time}",
    "My work number is {PHONE}, my cell is {PHONE}.",
    "Customer says the OTP goes to {PHONE} which is an old number.",
    "Please mail the checkbook to {ADDRESS}",
    "Home address {ADDRESS}; mailing address the same.",
    "Update address for {NAME} to {ADDRESS} effective {date}.",
    "Good morning, {NAME} here. I'd like to open a {product}.",
    "Speaking with {NAME} who says her husband {NAME} is the primary holder.",
    "This is {NAME}, account {ACCOUNT}, I need a copy of my statement from {date}.",
    "Please add authorised user {NAME} to card {CARD}.",
    "Fraud case: {NAME}, {PHONE}, {EMAIL}, card {CARD} exp {EXPIRY}.",
    "Send the payoff letter for the loan on {ADDRESS} to {EMAIL}.",
    "Gift from my dad {NAME}, he sent it from IBAN {IBAN}.",
    "KYC: {NAME}, {ADDRESS}, passport {PASSPORT}, SSN {SSN}.",
    "Dear team, I am {NAME} and my phone {PHONE} was stolen, please block card {CARD}.",
    "New payee {NAME}, sort code {SORT_CODE}, account {ACCOUNT}.",
    "Wire instructions: beneficiary {NAME}, ABA {ROUTING}, account {ACCOUNT}, address {ADDRESS}.",
    "Licence {DRIVER_LICENSE} expired, customer {NAME} brought a passport {PASSPORT} instead",
    "my email is {EMAIL} and my card is {CARD} cvv {CVV}",
    "yes the expiry is {EXPIRY} and the card number {CARD}",
]
DEV_NEG = [
    "What is the annual fee on the {product}? I heard it's {amount}.",
    "Is the foreign transaction fee still {pct} on the {product}?",
    "What's the APR on balance transfers, {pct} or {pct}?",
    "Where do I find the CVV on my card?",
    "How long until my new card arrives? It's been {n} days.",
    "What is your routing number for wires?",
    "Do you need my sort code to set up a standing order, or just the IBAN?",
    "Policy {code} was updated on {date}; does it change the overdraft fee of {amount}?",
    "Per {code}, transfers above {amount} need a second approver.",
    "Is the {branch} branch open on Saturday? Until {time}?",
    "The {branch} branch ATM ate my card, what should I do?",
    "Customer asks about case {ref}: refund of {amount} issued on {date}.",
    "Ticket {ref} escalated to tier {n}, SLA is {n} hours.",
    "What is the daily ATM withdrawal limit on {product}?",
    "Can I get the {product} if my credit score is below {n}0?",
    "Rate on the {product} is {pct} APY as of {date}.",
    "My card ending {last4} was declined, why?",
    "Product code {code} is being retired on {date}, move customers to {product}.",
    "How do I change my PIN?",
    "The late payment fee is {amount} and the returned payment fee {amount}, correct?",
    "Does the {product} have travel insurance? Reference {code}.",
    "Wire cut-off is {time}; anything after goes the next business day.",
    "Reg E dispute window is {n} days from the statement date.",
    "Form {code} is required for accounts opened after {date}.",
    "Staff note: {product} promo ends {date}; {pct} cashback on groceries.",
    "Is there a fee for using an out-of-network ATM? I was charged {amount}.",
    "What documents do I need to open a joint account?",
    "How do I add a beneficiary for international transfers?",
    "Minimum opening deposit for {product} is {amount}?",
    "The mortgage rate lock lasts {n} days, right? Code {code}.",
    "Can I pay my credit card bill from another bank?",
    "Compliance bulletin {ref} dated {date}: KYC refresh every {n} months.",
    "Fees schedule version {code}, effective {date}.",
    "Why was I charged {amount} interest if I paid the full balance?",
    "Is Zelle available for business accounts? Limit {amount} per day?",
    "CD early withdrawal penalty: {n} months of interest, per {code}.",
    "What's the difference between Visa Signature and World Elite Mastercard?",
    "I need a cashier's check for {amount}, which branch can do it by {time}?",
    "Overdraft protection transfer fee is {amount}; waived for {product}.",
    "Holiday hours for {branch}: closed {date}, reopening {date}.",
]
HELD_NEG = [
    "How much is the monthly maintenance fee on {product} and how do I avoid it?",
    "Cash advance APR went from {pct} to {pct} - when did that change?",
    "Where's the security code on an Amex, front or back?",
    "Can you explain the {pct} intro rate and how long it lasts?",
    "Do you charge {amount} for replacement cards or is it free?",
    "Our IBAN format for incoming transfers - where can customers find it in the app?",
    "Agent note: refer to article {code} before answering fee questions.",
    "Escalation {ref} closed on {date}; root cause was a batch delay at {time}.",
    "Is the {branch} location doing notary services this week?",
    "Is there parking at the {branch} branch?",
    "I got a letter referencing {ref}, what is it about?",
    "Update to {code}: wire fee rises to {amount} on {date}.",
    "Please explain the {amount} charge labelled 'SVC FEE' on my statement.",
    "How many free transfers per month on {product}? Is it {n}?",
    "Will the {product} earn points on rent payments?",
    "Customer asks whether the {pct} rate is fixed or variable on {product}.",
    "What happens if I miss a payment by {n} days?",
    "My statement says card ending {last4} but I have a newer card.",
    "Is the {product} eligible for the spring promo code {code}?",
    "We updated terms {code} on {date}; please read section {n}.",
    "What's the max I can deposit with mobile check deposit - {amount}?",
    "Do I need to tell you before travelling abroad with my {product}?",
    "Can I lock my card from the app?",
    "Business hours are {time} to {time} Monday to Friday, right?",
    "Interest is compounded daily at {pct}; statement cycle closes on the {n}th.",
    "What's the expiry policy for reward points - {n} months?",
    "Branch code {code} merged into {branch} on {date}.",
    "Can I open an account online without visiting {branch}?",
    "Is the {amount} minimum balance requirement waived for students?",
    "Which form do I need for the tax certificate, {code}?",
    "Internal: outage ticket {ref}, card authorisations delayed {n} minutes.",
    "How long do ACH transfers take? Sent {amount} on {date}.",
    "How do I order checks and what do they cost, {amount}?",
    "Dispute {ref} was decided in your favor on {date}.",
    "Is the {product} annual fee {amount} waived the first year?",
    "Can a power of attorney operate the account? See policy {code}.",
    "What is the grace period on the {product}? {n} days?",
    "Why did my credit limit drop to {amount}?",
    "Mortgage payment due on the {n}st, late after {n} days, fee {pct} of the payment.",
    "Routing questions should go to the payments desk, not the branch.",
]


def _typo(word: str, r: random.Random) -> str:
    i = r.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _literal(text: str, r: random.Random, lower: bool, typo: bool) -> str:
    if lower:
        text = text.lower()
    if typo:
        words = [m for m in re.finditer(r"[A-Za-z]{5,}", text)]
        if words:
            m = r.choice(words)
            text = text[: m.start()] + _typo(m.group(), r) + text[m.end() :]
    return text


def _value(kind: str, r: random.Random, lower: bool) -> str:
    value = VALUES[kind](r)
    if kind not in {"NAME", "ADDRESS", "EMAIL"} and r.random() < 0.05:
        value = value.translate(FULLWIDTH)  # typed on a phone with a CJK keyboard
    elif kind in {"CARD", "PHONE", "IBAN"} and " " in value and r.random() < 0.05:
        value = value.replace(" ", "\u00a0")  # pasted from a PDF
    return value.lower() if lower and kind in {"NAME", "ADDRESS", "EMAIL"} else value


def render(template: str, r: random.Random) -> dict[str, object]:
    lower = r.random() < 0.1
    parts = re.split(r"\{(\w+)\}", template)
    text, entities = "", []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            text += _literal(part, r, lower, typo=r.random() < 0.12 / max(1, len(parts) // 2))
        elif part in VALUES:
            value = _value(part, r, lower)
            entities.append({"kind": part, "start": len(text), "end": len(text) + len(value)})
            text += value
        else:
            text += FILLERS[part](r)
    return {"text": text, "entities": entities}


def build(pos: list[str], neg: list[str], r: random.Random, prefix: str) -> list[dict[str, object]]:
    rows = [render(pos[i % len(pos)], r) for i in range(PER_HALF)]
    rows += [render(neg[i % len(neg)], r) for i in range(PER_HALF)]
    return [{"id": f"{prefix}-{i:04d}", **row} for i, row in enumerate(rows)]


def write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = ap.parse_args()
    r = random.Random(SEED)
    dev = build(DEV_POS, DEV_NEG, r, "dev")
    held = build(HELD_POS, HELD_NEG, r, "held")
    write(args.out / "messages.jsonl", dev)
    write(args.out / "messages-heldout.jsonl", held)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
