"""Street addresses written the continental way, beside the English forms of ``kinds.py``.

English addresses put the number first and the street type last ("12 High Street"). Much of
the world does otherwise: the type first and the number after ("Via Roma 131", "ul. Miła 53",
"31 rue de la Hulotais"), or the type fused into the name ("Pfarrgasse 91", "Nybyvägen 65",
"Laukaantie 80", "Rákóczi út 13."). A street found in either form is extended over what
follows it in an address block: an apartment or suite, a postcode, a town in capitals or
Title Case, a country.

US military and diplomatic mail (PSC/Unit ... Box ..., APO/FPO/DPO AA/AE/AP and a ZIP) is found
here too.

Precision comes from the house number: a type word or a fused street name counts only with a
house number next to it, so "the Via Appia" or "Hauptstrasse" alone stay readable.
"""

from __future__ import annotations

import re

from steward.guard.pii import Span

_L = r"[^\W\d_]"  # a letter of any script
_PARTICLE = r"d[eiu]|de\s+la|del|della|des|di|da|do|dos|das|van|von|der|den|la|le|les|du"
_NAME_WORD = (
    # A hyphenated name is one word: "Jean-Jaurès", "Karl-Marx".
    rf"(?!(?i:apt|apartment|suite|ste|unit|flat|app|appt)\b)(?:[A-ZÀ-ÖØ-Þ]{_L}*(?:-{_L}+)*"
    rf"|{_PARTICLE})"
)
# A house number is not the start of a postcode: "rue des Lilas, 69003 Lyon" has none.
_NUMBER = r"\d{1,4}(?!\d)(?:[a-zA-Z](?![^\W\d_]))?(?:[/-]\d{1,4}(?!\d))?\.?"
# The type word first: Italian, French, Spanish, Catalan, Portuguese, Polish, Romanian, Serbo-
# Croatian and Czech forms (abbreviations with their dot).
_TYPE_FIRST = (
    r"Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Strada|Rue|Avenue|Boulevard|Bd\.?|Chemin"
    r"|Allée|Impasse|Quai|Calle|C/|Avenida|Avda\.?|Av\.|Paseo|Plaza|Carrer|Camino|Ronda|Rua"
    r"|Travessa|Praça|Estrada|ul\.|Ul\.|ulica|Ulica|aleja|Aleja|al\.|Al\.|os\.|plac|Plac"
    r"|Str\.|Bulevardul|Calea|Splaiul|Ulice|ulice|náměstí|Náměstí|trg|Trg|Bulevar"
    # Written lower case in running text too (never "via": "pay via Zelle 5 times").
    r"|rue|avenue|calle|avenida|rua|viale|piazza|corso|carrer"
)
# The type word fused into the name, or the word after it (Hungarian, Nordic, Baltic).
_FUSED = (
    r"stra(?:ß|ss)e|str\.|gasse|weg|platz|allee|ring|damm|ufer|steig|pfad|chaussee"
    r"|vej|vägen|väg|gatan|gata|gade|veien|vegen|veg|gaten|stræde|allé|torv|torget"
    r"|katu|tie|kuja|polku|kaari|raitti|laan|straat|gracht|plein|kade|dreef|steeg|singel"
    r"|tee|iela|gatvė|prospektas"
)
_AFTER_NAME = r"út|útja|utca|tér|tere|körút|sor|köz|sétány|rakpart|u\."
_UNIT = r"(?:apt\.?|apartment|suite|ste\.?|unit|flat|app\.?|appt\.?|étage|piso|whg\.?|lgh)"
_COUNTRIES = (
    r"Albania|Andorra|Argentina|Australia|Austria|Belgium|Bosnia and Herzegovina|Brazil"
    r"|Bulgaria|Canada|Chile|Colombia|Croatia|Cyprus|Czech Republic|Czechia|Denmark|Estonia"
    r"|Finland|France|Germany|Greece|Greenland|Hungary|Iceland|India|Ireland|Israel|Italy"
    r"|Japan|Latvia|Liechtenstein|Lithuania|Luxembourg|Malta|Mexico|Moldova|Monaco|Montenegro"
    r"|Netherlands|New Zealand|North Macedonia|Norway|Peru|Poland|Portugal|Romania|Russia"
    r"|San Marino|Serbia|Slovakia|Slovenia|South Africa|Spain|Sweden|Switzerland|Turkey"
    r"|Ukraine|United Kingdom|United States|Uruguay|Venezuela"
)
# US military and diplomatic mail (USPS Publication 28): "PSC 1437, Box 3833, APO AA 66791",
# "Unit 5477 Box 8244 DPO AP 15730", "USNS Comfort FPO AE 09563".
_MILITARY = re.compile(
    r"(?<![\w-])(?:(?:PSC|CMR|Unit)\s+\d{3,5},?\s+Box\s+\d{1,5}|(?:USNS|USS|USCGC)\s+"
    rf"[A-ZÀ-ÖØ-Þ]{_L}+(?:\s+[A-ZÀ-ÖØ-Þ]{_L}+)?),?\s+(?:APO|FPO|DPO)\s+A[AEP]\s+\d{{5}}(?!\d)",
    re.IGNORECASE,
)
_STREET = re.compile(
    # Optional number before it ("31 rue de la Hulotais"), then one of the three forms.
    rf"(?<![\w$€£.,/:-])(?:\d{{1,5}}\s+)?(?:"
    rf"(?:{_TYPE_FIRST})\s+(?:{_NAME_WORD}\s+){{0,3}}{_NAME_WORD},?\s+{_NUMBER}"
    rf"|[A-ZÀ-ÖØ-Þ]{_L}*(?:{_FUSED})\s+{_NUMBER}"
    rf"|[A-ZÀ-ÖØ-Þ]{_L}*\s+(?:{_L}+\s+){{0,2}}(?:{_AFTER_NAME})\s+{_NUMBER}"
    rf"|\d{{1,5}}\s+(?:{_TYPE_FIRST})\s+(?:{_NAME_WORD}\s+){{0,3}}{_NAME_WORD}"
    r")"
)
# A street of any name, known by what follows its house number: a comma, a postcode and a town
# ("Damrak 1, 1012 LG Amsterdam", "Unter den Linden 77, 10117 Berlin"). Dutch postcodes (four
# digits, two capitals) are distinctive enough alone; digits-only ones need the town after them.
_POSTCODE_ANCHORED = re.compile(
    # The street's name may be hyphenated ("Karl-Marx-Allee", "Champs-Élysées").
    rf"(?<![\w$€£.,/:-])[A-ZÀ-ÖØ-Þ]{_L}+(?:-{_L}+)*(?:\s+{_NAME_WORD}){{0,3}}\s+{_NUMBER}"
    rf"(?=,\s*(?:\d{{4}}\s?[A-Z]{{2}}(?![^\W\d_])"
    rf"|(?:[A-Z]{{1,2}}-)?\d{{4,5}}\s+[A-ZÀ-ÖØ-Þ]{_L}+(?:[ -][A-ZÀ-ÖØ-Þ]{_L}+)?"
    r"(?:\s+[A-Z])?(?=\s*(?:[,.;:!?)]|$))))"
)
# What may follow the street in an address block, each piece optional, in this order.
_TAIL = re.compile(
    rf"(?:,?\s+(?i:{_UNIT})\s*\d{{1,5}}[a-zA-Z]?)*"
    # A Spanish floor and door: "3º izq", "2o dcha".
    r"(?:,?\s+\d{1,2}[oº°ª]?\s*(?i:izq(?:da|uierda)?|izda|dcha|dch|der(?:echa)?)\.?)?"
    # A postcode before the town: 75011, 1012 LG, 111 43, 00-950, 1100-053, D-10115.
    rf"(?:(?:,\s*|,?\s+)(?:[A-Z]{{1,3}}-?)?(?:\d{{4}}\s?[A-Z]{{2}}(?![^\W\d_])|\d{{3}}\s\d{{2}}|\d{{4}}-\d{{3}}"
    rf"|\d{{2}}-\d{{3}}|\d{{4,5}})(?!\d))?"
    rf"(?:,?\s+(?:[A-ZÀ-ÖØ-Þ][\w'-]*)(?:[ -](?:[A-ZÀ-ÖØ-Þ][\w'-]*)){{0,2}}(?:\s+[A-Z]\b)?)?"  # town
    rf"(?:,?\s+(?:{_COUNTRIES}))?"
    rf"(?:,?\s+\d{{4,5}})?"  # a postcode after the country
)


class ContinentalAddressRecognizer:
    """Street addresses with the type word first or fused into the name, and a house number."""

    name = "address-intl"

    def find(self, text: str) -> list[Span]:
        # Scored above the English forms (0.7): where both match, the whole block wins over
        # the "7 St" an English rule reads inside it.
        out = [
            Span("ADDRESS", m.start(), m.end(), 0.72, self.name) for m in _MILITARY.finditer(text)
        ]
        for m in [*_STREET.finditer(text), *_POSTCODE_ANCHORED.finditer(text)]:
            end = m.end()
            tail = _TAIL.match(text, end)
            if tail:
                end = tail.end()
            while end > m.start() and text[end - 1] in " ,":
                end -= 1
            out.append(Span("ADDRESS", m.start(), end, 0.72, self.name))
        return out
