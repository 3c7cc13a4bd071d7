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
from typing import Any

from steward.guard.pii import Span

_L = r"[^\W\d_]"  # a letter of any script
# A capital of a Latin script, Polish, Czech and Baltic ones too ("Świat", "Řípská").
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ"
_PARTICLE = (
    r"d[eiu]|de\s+la|del|della|dei|degli|delle|dello|des|di|da|do|dos|das|van|von|der|den|la|le"
    r"|les|du|e"  # "Via dei Fiorentini", "Rua Vinte e Cinco de Setembro"
)
_NAME_WORD = (
    # A hyphenated name is one word: "Jean-Jaurès", "Karl-Marx".
    rf"(?!(?i:apt|apartment|suite|ste|unit|flat|app|appt)\b)(?:[{_UP}]{_L}*(?:-{_L}+)*"
    # A particle is a whole word ("des", not "de" of it), and a word in lower case may follow
    # it ("rue des lieutenants Thomazo").
    rf"|(?:{_PARTICLE})(?![^\W\d_])(?:\s+[a-zà-ÿ]{{4,}})?)"
)
# A house number is not the start of a postcode: "rue des Lilas, 69003 Lyon" has none.
_NUMBER = r"\d{1,4}(?!\d)(?:[a-zA-Z](?![^\W\d_]))?(?:[/-]\d{1,4}(?!\d))?\.?"
# The type word first: Italian, French, Spanish, Catalan, Portuguese, Polish, Romanian, Serbo-
# Croatian and Czech forms (abbreviations with their dot).
_TYPE_FIRST = (
    r"Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Strada|Rue|Avenue|Boulevard|Bd\.?|Chemin"
    r"|Allée|Impasse|Quai|Calle|C/|Avenida|Avda\.?|Av\.|Paseo|Plaza|Carrer|Camino|Ronda|Rua"
    r"|Travessa|Praça|Estrada|ul\.|Ul\.|ulica|Ulica|ulicy|Ulicy|aleja|Aleja|al\.|Al\.|os\.|plac|Plac"
    r"|Str\.|Bulevardul|Calea|Splaiul|Ulice|ulice|náměstí|Náměstí|trg|Trg|Bulevar"
    r"|Odos|Odós|Leoforos|Leof\."  # Greek, transliterated
    # Written lower case in running text too (never "via": "pay via Zelle 5 times").
    r"|rue|avenue|calle|avenida|rua|viale|piazza|corso|carrer|odos|leoforos"
)
# The type word fused into the name, or the word after it (Hungarian, Nordic, Baltic).
_FUSED = (
    r"stra(?:ß|ss)e|str\.|gasse|weg|platz|allee|ring|damm|ufer|steig|pfad|chaussee"
    r"|vej|vägen|väg|gatan|gata|gade|veien|vegen|veg|gaten|stræde|allé|torv|torget"
    r"|katu|tie|kuja|polku|kaari|raitti|laan|straat|gracht|plein|kade|dreef|steeg|singel"
    r"|tee|iela|gatvė|prospektas|stræti|straeti|braut|vegur|stígur"
)
# The type word after the name, as a word of its own: Hungarian ("Andrássy út 21"), Nordic,
# German and Dutch ("Karl Johans vei 5", "Berliner Straße 12"); not the Norwegian "gate",
# which is an airport's in English ("Boarding gate 12"): that one needs a postcode after it.
_AFTER_NAME = (
    # Czech and Slovak too: "Václavské náměstí 832/19", "Vinohradská třída 12".
    r"út|útja|utca|tér|tere|körút|sor|köz|sétány|rakpart|u\.|náměstí|nám\.|třída|nábřeží"
    r"|námestie|nábrežie|rkp\.|krt\."  # Hungarian abbreviations: "Belgrád rkp. 18."
    r"|vej|vei|veien|vegen|gata|gatan|gade|Straße|Strasse|straße|strasse|Str\.|weg|allee|allé"
    r"|straat|laan|katu|gasse|platz"
)
_SEPARATE_TYPE = rf"{_AFTER_NAME}|gate|gaten"
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
# "Unit 5477 Box 8244 DPO AP 15730", "USNS Comfort FPO AE 09563", "USNV Botolen FPO AE 12382".
_MILITARY = re.compile(
    r"(?<![\w-])(?:(?:PSC|CMR|Unit)\s+\d{3,5},?\s+Box\s+\d{1,5}|(?:USNS|USNV|USS|USCGC)\s+"
    rf"[{_UP}]{_L}+(?:\s+[{_UP}]{_L}+)?),?\s+(?:APO|FPO|DPO)\s+A[AEP]\s+\d{{5}}(?!\d)",
    re.IGNORECASE,
)
_STREET = re.compile(
    # Optional number before it ("31 rue de la Hulotais"), then one of the three forms.
    # The number may take a comma before the type: "14, rue du Faubourg Saint-Honoré"; the
    # number after the name its word: "calle Serrano, número 45".
    rf"(?<![\w$€£.,/:-])(?:\d{{1,5}},?\s+)?(?:"
    rf"(?:{_TYPE_FIRST})\s+(?:{_NAME_WORD}\s+){{0,4}}{_NAME_WORD},?\s+"
    rf"(?:(?i:número|numero|núm\.|nº|n\.º|no\.)\s*)?{_NUMBER}"
    rf"|(?P<fused>[{_UP}]{_L}*(?:{_FUSED}))\s+{_NUMBER}"
    rf"|[{_UP}]{_L}*\s+(?:{_L}+\s+){{0,2}}(?:{_AFTER_NAME})\s+{_NUMBER}"
    rf"|\d{{1,5}},?\s+(?:{_TYPE_FIRST})\s+(?:{_NAME_WORD}\s+){{0,3}}{_NAME_WORD}"
    r")"
)
# A street of any name, known by what follows its house number: a comma, a postcode and a town
# ("Damrak 1, 1012 LG Amsterdam", "Unter den Linden 77, 10117 Berlin"). Dutch postcodes (four
# digits, two capitals) are distinctive enough alone; digits-only ones need the town after them.
_POSTCODE_ANCHORED = re.compile(
    # The street's name may be hyphenated ("Karl-Marx-Allee", "Champs-Élysées").
    rf"(?<![\w$€£.,/:-])[{_UP}]{_L}+(?:-{_L}+)*(?:\s+(?:{_NAME_WORD}|{_SEPARATE_TYPE})){{0,3}}"
    rf"\s+{_NUMBER}"
    rf"(?=,?\s*(?:\d{{4}}\s?[A-Z]{{2}}(?![^\W\d_])"
    # Czech, Slovak, Swedish and Greek postcodes are written "110 00"; a town's district
    # number may follow it ("Praha 10").
    rf"|(?:(?:[A-Z]{{1,2}}-)?\d{{4,5}})\s+[{_UP}]{_L}+(?:[ -][{_UP}]{_L}+)?"
    r"(?:\s+[A-Z]|\s+\d{1,2})?(?=\s*(?:[,.;:!?)]|$))"
    # Postcodes of a shape only postcodes have need no sentence end after the town: "110 00
    # Praha 1 last month" (Czech, Slovak), "00-029 Warszawa" (Polish), "1100-053 Lisboa".
    rf"|(?:\d{{3}}\s\d{{2}}|\d{{2}}-\d{{3}}|\d{{4}}-\d{{3}})\s+[{_UP}]{_L}+))"
)
# A street of any name between two numbers, the first line of an address block whose town,
# postcode or region follows ("50541 Mlýnská 1540\nTrancoso\n, GU\n Portugal 44674", "641
# Dašická 688, Turkovice u Prelouce"): only where ``block_end`` reads such a block after it.
_NUMBERED_NAME = re.compile(
    rf"(?<![\w$€£.,/:-])\d{{1,6}}[^\S\n]+[{_UP}]{_L}*(?:-{_L}+)*"
    rf"(?:[^\S\n]+[{_UP}]{_L}*(?:-{_L}+)*){{0,3}}[^\S\n]+\d{{1,5}}[A-Za-z]?"
    rf"(?:,?[^\S\n]+(?i:{_UNIT})[^\S\n]*\d{{1,5}}[A-Za-z]?)?(?![\w.,/%:-]\w)"
)
# What may follow the street in an address block, each piece optional, in this order.
_TAIL = re.compile(
    # A Finnish staircase and flat after the house number: "Mannerheimintie 5 A 7".
    r"(?:[^\S\n]+[A-H][^\S\n]?\d{1,3}(?![\w/]))?"
    rf"(?:,?\s+(?i:{_UNIT})\s*\d{{1,5}}[a-zA-Z]?)*"
    # A Spanish floor and door: "3º izq", "2o dcha".
    r"(?:,?\s+\d{1,2}[oº°ª]?\s*(?i:izq(?:da|uierda)?|izda|dcha|dch|der(?:echa)?)\.?)?"
    # A postcode before the town: 75011, 1012 LG, 111 43, 00-950, 1100-053, D-10115.
    rf"(?:(?:,\s*|,?\s+)(?:[A-Z]{{1,3}}-?)?(?:\d{{4}}\s?[A-Z]{{2}}(?![^\W\d_])|\d{{3}}\s\d{{2}}|\d{{4}}-\d{{3}}"
    rf"|\d{{2}}-\d{{3}}|\d{{4,5}})(?!\d))?"
    # The town, with a district's letter or number ("Praha 10").
    rf"(?:,?\s+(?:[{_UP}][\w'-]*)(?:[ -](?:[{_UP}][\w'-]*)){{0,2}}"
    r"(?:\s+[A-Z]\b|[^\S\n]+\d{1,2}(?![\w/.,:]))?)?"
    rf"(?:,?\s+(?:{_COUNTRIES}))?"
    rf"(?:,?\s+\d{{4,5}})?"  # a postcode after the country
)


# Addresses in other scripts, each in its own order: Russian (the type, the name, the number:
# "улице Ленина 5", "ул. Тверская, д. 7"), Chinese (province, city and district, the road and
# its number: "北京市朝阳区建国路88号") and Arabic ("شارع الملك فهد 12"), with the town after a
# comma where one follows.
# A Han character that can be part of a place's name (not "my", "is", "at", "address", "live").
_HAN = r"(?:(?![我你他她的是在址住到从])[\u4e00-\u9fff])"
_OTHER_SCRIPTS = re.compile(
    r"(?i:улиц[аеуы]|ул\.|проспект[еа]?|пр-т|переул(?:ок|ке)|пер\.|шоссе|площад[ьи]|бульвар[еа]?"
    r"|набережн(?:ая|ой))\s+(?:[А-ЯЁ][а-яё-]+\s+){0,2}[А-ЯЁ][а-яё-]+,?\s+(?:(?:д\.|дом)\s*)?\d{1,4}"
    r"(?:[а-я])?(?:,?\s+(?:кв\.|квартира)\s*\d{1,4})?(?:,\s*[А-ЯЁ][А-Яа-яЁё-]+)?"
    # Simplified or traditional characters ("台北市信義區信義路五段7號10樓之3").
    rf"|(?:{_HAN}{{1,8}}(?:省|市|区|區|县|縣|镇|鎮))*{_HAN}{{1,10}}(?:路|街|大道|道|巷|胡同)"
    r"(?:[一二三四五六七八九十]段)?"
    # The building, its block and the room after the number: "88号SOHO现代城A座1201室".
    r"\d{1,5}[号號](?:[\u4e00-\u9fff\dA-Za-z]{0,12}?(?:楼|樓|室|单元|座|层|層|号楼|房)(?:之\d{1,3})?)*"
    # Japanese: prefecture, city or ward, district and the block numbers ("東京都千代田区丸の内
    # 1-9-1"); Korean: city, district, road and number ("서울특별시 강남구 테헤란로 152").
    r"|(?:〒?\d{3}-\d{4}\s*)?(?:[\u4e00-\u9fff]{1,4}(?:都|道|府|県))?"
    r"(?:(?![はがをにでのと])[\u3040-\u30ff\u4e00-\u9fff]){1,8}(?:市|区|町|村)[\u3040-\u30ff\u4e00-\u9fff]{0,8}\d{1,4}(?:丁目|-)\d{1,4}(?:(?:番地?|-)\d{1,4}号?)?"
    # The building, its floor and the room: "新宿ビル3階301号室".
    r"(?:\s*[\u3040-\u30ff\u4e00-\u9fffA-Za-z]{0,10}?\d{1,3}階)?(?:\s*\d{1,4}号室)?"
    r"|(?:[\uac00-\ud7a3]{2,8}(?:시|도)\s*)?[\uac00-\ud7a3]{1,6}(?:구|군)\s*(?:[\uac00-\ud7a3\d]{1,10}"
    r"(?:로|길)\s*\d{1,5}(?:-\d{1,4})?|[\uac00-\ud7a3]{1,6}동\s*\d{1,4}(?:-\d{1,4})?)"
    # The building, its block ("101동") and the flat ("1203호").
    r"(?:,?\s*[\uac00-\ud7a3]{0,10}\s*\d{1,4}동)?(?:\s*\d{1,4}호)?"
    # Greek: the type, the name and the number, the postcode and town after ("Οδός Ερμού 25,
    # 105 63 Αθήνα").
    r"|(?:Οδός|οδός|Οδ\.|οδ\.|Λεωφόρος|λεωφόρος|Λεωφ\.|Πλατεία|πλατεία)\s+(?:[Α-ΩΆ-Ώ][α-ωά-ώϊϋΐΰ]+\s+)"
    r"{0,2}[Α-ΩΆ-Ώ][α-ωά-ώϊϋΐΰ]+\s+\d{1,4}"
    r"|[А-ЯЁ][а-яё]+\s+(?:проспект[еа]?|переулк?е|шоссе|бульваре)\s+\d{1,4}"
    r"|شارع\s+(?:[\u0621-\u064A]+\s+){0,3}\d{1,5}(?:\s*[،,]\s*[\u0621-\u064A]+)?"
    r"|\d{1,5}\s+شارع(?:\s+[\u0621-\u064A]+){1,3}(?:\s*[،,]\s*[\u0621-\u064A]+)?"
)


# A street with its type word: "Maple Ave", "5th Street", "Hauptstraße".
_STREET_WITH_TYPE = (
    r"(?:(?:[A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ][\w'-]*|\d{1,3}(?:st|nd|rd|th))[^\S\n]+(?:[A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ][\w'-]*[^\S\n]+)?"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Place|Pl)\b\.?"
    rf"|[{_UP}][\w'-]*(?:{_FUSED}))"
)
# A street corner: "the corner of Elm St and 5th Ave", "corner of Kuusiku 7 & Alexander Flat".
# Each street starts with a capital or a number and holds a capitalised word or an ordinal;
# short lower-case words in between are the type or a particle ("Csabai kapu 39.").
_CORNER_PART = (
    r"(?:[A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ][\w'-]*\.?|\d{1,5}(?:st|nd|rd|th|[A-Za-z])?\.?)"
    r"(?:[^\S\n]+(?!and\b)(?:[A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ][\w'-]*\.?|\d{1,5}(?:st|nd|rd|th|[A-Za-z])?\.?|[a-z]{1,5}\.?)){0,4}"
)
_CORNER = re.compile(
    rf"(?<!\w)(?:(?i:the)[^\S\n]+)?(?i:corner|intersection|junction|crossing)[^\S\n]+of"
    rf"[^\S\n]+{_CORNER_PART}[^\S\n]+(?:and|&|/)[^\S\n]+(?:[a-z]{{1,5}}[^\S\n]+)?{_CORNER_PART}"
    # German, Dutch, Spanish, French and Italian: "Kreuzung Leopoldstraße / Ainmillerstraße",
    # "Ecke X und Y", "hoek X en Y", "cruce de X con Y", "carrefour de X et Y", "incrocio tra
    # X e Y".
    rf"|(?<!\w)(?i:kreuzung|ecke|hoek|cruce\s+de|esquina\s+de|carrefour\s+de|angle\s+de"
    rf"|incrocio\s+(?:tra|fra))[^\S\n]+{_CORNER_PART}[^\S\n]*(?:/|und|en|&|con|y|et|e)"
    rf"[^\S\n]*{_CORNER_PART}"
    # Two typed streets joined by "&" or "/": "Maple Ave & 5th St", "Elm Street / Oak Avenue".
    rf"|(?<!\w){_STREET_WITH_TYPE}[^\S\n]*(?:&|/|\band\b)[^\S\n]*{_STREET_WITH_TYPE}"
    rf"(?=[^\S\n]+(?i:intersection|junction|crossing)|[^\S\n]*[&/])"
    rf"|(?<!\w){_STREET_WITH_TYPE}[^\S\n]*[&/][^\S\n]*{_STREET_WITH_TYPE}"
)


# A Japanese address in Latin letters: block, building and house numbers, the district, the
# ward or city, the prefecture ("2-3-1 Nishi-Shinjuku, Shinjuku-ku, Tokyo").
_ROMAJI = re.compile(
    r"(?<![\w-])\d{1,4}-\d{1,4}(?:-\d{1,4})?,?[^\S\n]+[A-Za-z][a-z]+(?:-[A-Za-z][a-z]+)*"
    r",?[^\S\n]+[A-Za-z][a-z]+-(?:ku|shi|cho|machi|gun|mura)\b"
    # The prefecture or city where the sentence ends there, and a postcode ("100-0005").
    r"(?:,?[^\S\n]+[A-Za-z][a-z]+(?=[^\S\n]*(?:[,.;:!?)\n]|$|\d{3}-\d{4})))?"
    r"(?:,?[^\S\n]+\d{3}-\d{4}(?!\d))?"
)


# An Eircode named as one: "my Eircode is D02 XY45" (one identifies a single home).
_EIRCODE = re.compile(
    r"(?i:eircode)[^\S\n]*(?:is|:)?[^\S\n]*((?:[AC-FHKNPRTV-Y]\d{2}|D6W)[^\S\n]?"
    r"[0-9AC-FHKNPRTV-Y]{4})(?!\w)",
    re.IGNORECASE,
)


class ContinentalAddressRecognizer:
    """Street addresses with the type word first or fused into the name, and a house number;
    Russian, Chinese and Arabic ones in their own order."""

    name = "address-intl"

    def find(self, text: str) -> list[Span]:
        from steward.guard.kinds import english_word  # kinds imports this module

        # Scored above the English forms (0.7): where both match, the whole block wins over
        # the "7 St" an English rule reads inside it.
        out = [
            Span("ADDRESS", m.start(), m.end(), 0.72, self.name) for m in _MILITARY.finditer(text)
        ]
        out += [
            Span("ADDRESS", m.start(), m.end(), 0.72, self.name)
            for rx in (_OTHER_SCRIPTS, _ROMAJI)
            for m in rx.finditer(text)
        ]
        out += [
            Span("ADDRESS", m.start(1), m.end(1), 0.72, self.name) for m in _EIRCODE.finditer(text)
        ]
        # Above the streets inside it, and the names the model reads in them ("Mathias Pass").
        for m in _CORNER.finditer(text):
            # Trailing lower-case words are the sentence going on ("... and Main near the
            # park"): off, as long as two streets are left ("the corner of Elm and the car
            # park" is none). A new sentence inside it is cut by the masker (_sentences_cut).
            piece = text[m.start() : m.end()].rstrip(" .,;:!?")
            while (last := re.search(r"[^\S\n]+([^\s]+)$", piece)) and last.group(1)[:1].islower():
                piece = piece[: last.start()].rstrip(" .,;:!?")
            if not _CORNER.fullmatch(piece):
                continue
            end = m.start() + len(piece)
            out.append(Span("ADDRESS", m.start(), end, 0.95, self.name))
        for m in _NUMBERED_NAME.finditer(text):
            words = re.findall(rf"{_L}[\w-]*", m.group())
            if all(english_word(w) for w in words):
                continue  # "12 Items 40, London": English words are no foreign street
            end = block_end(text, m.end())
            if end > m.end():
                out.append(Span("ADDRESS", m.start(), end, 0.72, self.name))
        for m in [*_STREET.finditer(text), *_POSTCODE_ANCHORED.finditer(text)]:
            fused = m.groupdict().get("fused")
            if fused and english_word(fused):
                continue  # "During 2017", "Spring 2024", "Committee 3": words, not streets
            end = m.end()
            tail = _TAIL.match(text, end)
            if tail:
                end = tail.end()
            while end > m.start() and text[end - 1] in " ,":
                end -= 1
            out.append(Span("ADDRESS", m.start(), end, 0.72, self.name))
        return out


# ------------------------------------------------------------------ an address after its cue

# Units, amounts, counts of people or places and the bank's product words are no street's name:
# "12 Months, Unit 4", "45 Dollars, Apt insurance", "4 Silver Plan, Tampa FL", "send it to 5
# branches", "10 Business Days", "I'm at 3 Overdrafts".
_NOT_STREET_NAME = frozenset(
    [
        *("second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week"),
        *("weeks", "month", "months", "year", "years", "time", "times", "dollar", "dollars"),
        *("euro", "euros", "pound", "pounds", "cent", "cents", "percent", "point", "points"),
        *("mile", "miles", "star", "stars", "plan", "plans", "card", "cards", "account"),
        *("accounts", "policy", "policies", "service", "services", "premium", "premiums"),
        *("fee", "fees", "loan", "loans", "rate", "rates", "payment", "payments", "people"),
        *("person", "persons", "branch", "branches", "member", "members", "customer"),
        *("customers", "friend", "friends", "location", "locations", "address", "addresses"),
        *("overdraft", "overdrafts", "claim", "claims", "adjuster", "adjusters", "business"),
        *("joint", "thousand", "thousands", "hundred", "hundreds", "million", "k", "grand"),
        *("income", "incomes", "kid", "kids", "child", "children", "job", "jobs", "different"),
        *("other", "separate", "same", "new", "old", "more", "less", "of", "factor"),
        *("authentication", "tier", "paycheck", "paychecks", "salary", "pension", "digit"),
        *("line", "lines", "eleven", "twelve", "twenty", "thirty", "fifty", "hundred"),
        *("january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun"),
        *("jul", "aug", "sep", "sept", "oct", "nov", "dec"),
        # Durations in the languages a European bank hears most ("12 Minuten entfernt").
        *("minuten", "stunden", "tage", "wochen", "monate", "jahre", "heures", "jours"),
        *("semaines", "mois", "ans", "minutos", "horas", "días", "dias", "semanas", "meses"),
        *("años", "anos", "minuti", "ore", "giorni", "settimane", "mesi", "anni"),
    ]
)
# A plural after a number is a count ("2 Payees", "4 Recipients", "3 Acres"), unless it is one
# of the plurals streets are named with.
_STREET_PLURALS = frozenset(
    [
        *("meadows", "heights", "gardens", "fields", "woods", "hills", "downs", "mews"),
        *("terraces", "oaks", "pines", "springs", "falls", "lakes", "commons", "gates"),
        *("elms", "willows", "brooks", "crossings", "flats", "estates", "villas", "rows"),
    ]
)


def _count_word(word: str) -> bool:
    """Whether a word after a number makes it a count, not a house number: a unit or product
    word, or a plural streets are not named with ("2 Payees"; "12 The Meadows" is a street)."""
    plural = word.endswith("s") and not word.endswith("ss") and len(word) > 3
    if word in _NOT_STREET_NAME:
        return True
    if not plural or word in _STREET_PLURALS:
        return False
    # Only an English plural counts: "Filadelfeos" is a street's name, not "Filadelfeo"s
    # (without the model's word vectors every such word counts).
    from steward.guard.kinds import english_word, has_word_vectors  # it imports this module

    return not has_word_vectors() or english_word(word) or english_word(word[:-1])


# Words that say an address follows: "my address is 58 calle quetzalcoatl, miami", "I live at
# 9 penhallow", "I moved from 45 Orchardleigh to 9 Pennywhistle", "send it to 903 Brightwater";
# the same in the languages a European bank hears most.
_ADDRESS_SAID = re.compile(
    r"(?i:(?:my|our|the|new|home|mailing|postal)\s+address(?:\s+(?:is|now|will\s+be))*\s*[:,-]?"
    r"|address\s*:|(?:indirizzo|dirección|direccion|adresse|endereço|endereco|adres)\s*:"
    r"|(?:i|we|they|you)\s+(?:now\s+)?live\s+(?:at|on)|(?:lives|lived|living)\s+(?:at|on)"
    r"|live\s+at|(?:live|lives|lived|living)\s+in"
    # Czech, Slovak and Polish: "bydlím na adrese", "bydlím v ulici", "mieszkam przy ulicy".
    r"|(?:bydlím|bývam|mieszkam)(?:\s+(?:na\s+adrese|v\s+ulici|na\s+ulici|na|v|przy"
    r"(?:\s+ulicy)?|na\s+ulicy))?|na\s+adrese|v\s+ulici"
    r"|reside\s+at"
    r"|(?:house|home|flat|apartment|place)\s+(?:is\s+)?(?:at|on)|moved\s+(?:from|to|into)"
    r"|staying\s+at|located\s+at"
    r"|(?:deliver|mail|send|ship|post|return)(?:\s+(?:it|them|this|the\s+\w+))?"
    r"\s+to|mi\s+direcci[oó]n\s*(?:es|:)|mon\s+adresse\s*(?:est|:)|meine\s+adresse\s*(?:ist|:)"
    r"|(?:il\s+)?mio\s+indirizzo\s*(?:è|e|:)|(?:o\s+)?meu\s+endere[cç]o\s*(?:é|e|:)"
    r"|mijn\s+adres\s*(?:is|:)|vivo\s+en(?:\s+la)?|j'habite\s+(?:au|à)?|ich\s+wohne(?:\s+in)?"
    # Czech and Slovak ("mám novou adresu", "moje adresa je"), Greek ("μένω στην", "η
    # διεύθυνσή μου είναι").
    r"|(?:nov(?:ou|á|ý|u)\s+)?adres(?:u|a)(?:\s+je)?\s*:?|moje\s+adresa\s+je"
    r"|μένω\s+(?:στην|στη|στο|στον)|(?:η\s+)?διεύθυνσ[ήη]\s+(?:μου\s+)?(?:είναι|:))\s+"
)
_FOREIGN_SAID = re.compile(
    r"(?i)mi\s+direcci|mon\s+adresse|meine\s+adresse|(?:il\s+)?mio\s+indirizzo"
    r"|(?:indirizzo|dirección|direccion|adresse|endereço|endereco|adres)\s*:"
    r"|(?:o\s+)?meu\s+endere|mijn\s+adres|vivo\s+en|j'habite|ich\s+wohne"
    r"|adres[au]\b|μένω|διεύθυνσ"
)
_TYPED_STREET = re.compile(
    rf"(?i:{_TYPE_FIRST}|av\.?|avda\.?)\b|(?i:c/)(?=\s*\w)|{_L}+(?i:{_FUSED})\b", re.UNICODE
)
# What may follow a house number that ends an address: punctuation (not a decimal point), a
# line break, the end, a capital or a flat ("12, Oslo", "12 Apt 3"); not a word that makes
# it a count ("9 Penhallow 3 days a week").
_ADDRESS_ENDS = (
    r"(?![.,]\d)(?=[^\S\n]*(?:[,;.!?)\n]|$)|[^\S\n]+(?:[A-Z]|(?i:apt|suite|flat|unit|floor)\b)"
    # The street's type after its number, as some write it: "Grössgstötten 50 street."
    r"|[^\S\n]+(?:street|road)\b|[^\S\n]+(?:st\.|rd\.)(?=[^\S\n]*(?:[,;.!?)\n]|$))"
    # "in" and its like before the town: "Husova 7 v Brně", "Hauptplatz 3 in Graz".
    r"|[^\S\n]+(?:v|ve|w|we|in|en|à|a|i|im)[^\S\n]+[A-ZÀ-ÞĀ-Ž])"
)
# A street's name, then its number ("Kongens gate 12", "Via dei Fiorentini 17"), then the end
# of the address: punctuation, a line break or the end (not "Gold 2 cards", not "Platinum 2.5").
_NAME_THEN_NUMBER = re.compile(
    rf"(?P<street>{_L}[\w'-]*(?:[^\S\n]+{_L}[\w'-]*){{0,3}}?)[^\S\n]+\d{{1,5}}[A-Za-z]?"
    + _ADDRESS_ENDS
)
_NUMBER_AFTER_STREET = re.compile(r"[^\S\n]+\d{1,5}[A-Za-z]?" + _ADDRESS_ENDS)
_MOVED_ONWARD = re.compile(r",?[^\S\n]+(?i:to|into)[^\S\n]+")
# The type, up to four words, the number and a flat: "av. insurgentes sur 1602 depto 5".
_TYPED_THEN_NUMBER = re.compile(
    rf"\S+(?:[^\S\n]+{_L}[\w'.-]*){{0,4}}?[^\S\n]+\d{{1,5}}[A-Za-z]?"
    r"(?:,?[^\S\n]+(?i:depto\.?|dpto\.?|piso|apt\.?|app\.?|appt\.?|étage|whg\.?|int\.?)"
    r"[^\S\n]*\w{1,4})?(?![\w/%:])"
)
# Weaker: "I'm at 3 payments behind". A street after these must be written with capitals or
# have its town after it.
_ADDRESS_SAID_WEAKLY = re.compile(r"(?i:(?:i'?m|we'?re|i\s+am|we\s+are)\s+(?:now\s+)?at)\s+")
_HOUSE_NUMBER = re.compile(r"\d{1,6}[A-Za-z]?[^\S\n]+")
# A street named with its English type and no number, after "on": "the early shows on Berg
# Hills Street", "lives on Miletić Dale Street" (a street alone says where someone is).
_ON_NAMED_STREET = re.compile(
    rf"(?<![\w'’-])(?:on|along|off)[^\S\n]+((?:[{_UP}]{_L}+(?:-{_L}+)*[^\S\n]+){{1,3}}"
    r"(?:Street|Road|Avenue|Lane|Drive|Boulevard|Crescent|Terrace|Close))(?![\w'’-])"
)
STREET_NAME_RULE = "address-street-name"
_SECOND_NUMBER = re.compile(r"\d{1,4}[A-Za-z]?[^\S\n]+(?=[^\W\d_])")
# The street after the number: one to four words, up to a word that ends it ("in Tampa",
# "since March", "to 9 ...").
_STREET_WORD = re.compile(rf"{_L}[\w'-]*\.?")
_STREET_ABBREVIATION = re.compile(r"(?i:st|str|ave|rd|dr|ln|blvd|ct|pl|sq|hwy|pkwy|ter|cres)\.")
# English street types that end a street's name ("12 Elm Close", "9 Bay Street").
_ENGLISH_TYPES = frozenset(
    [
        *("street", "st", "road", "rd", "avenue", "ave", "lane", "ln", "drive", "dr", "close"),
        *("way", "court", "ct", "place", "pl", "crescent", "terrace", "boulevard", "blvd"),
        *("square", "sq", "grove", "gardens", "mews", "row", "walk", "hill", "rise", "parade"),
    ]
)
_ENDS_STREET = frozenset(
    [
        *("in", "since", "and", "or", "for", "with", "from", "to", "on", "at", "is", "was"),
        *("but", "instead", "please", "yesterday", "today", "tomorrow", "last", "next"),
        *("because", "now", "then", "so", "if", "when", "where", "which", "that", "who"),
        *("until", "by", "the", "a", "an", "my", "our", "your", "what", "how", "can", "is"),
    ]
)
_NOT_TOWN = _ENDS_STREET | frozenset(
    [
        *("can", "could", "would", "will", "should", "do", "does", "did", "we", "i", "you"),
        *("it", "they", "he", "she", "me", "us", "thanks", "thank", "pls", "and", "but"),
    ]
)
# Please and thanks, in the languages a European bank hears most: the sentence's, after an
# address ("80331 München, bitte Karte schicken").
_POLITE = frozenset(
    [
        *("please", "thanks", "thank", "pls", "bitte", "danke", "merci", "gracias", "grazie"),
        *("prego", "obrigado", "obrigada", "alstublieft", "bedankt", "proszę", "dziękuję"),
        *("prosím", "děkuji", "kiitos", "tack", "takk", "tak", "por", "s'il", "svp"),
    ]
)
_NOT_TOWN = _NOT_TOWN | _POLITE
# A town after a comma (or a postcode): one to three words, a state's two letters and a ZIP.
_TOWN_AFTER = re.compile(
    rf"(?:,[^\S\n]*(?:\d{{3}}[^\S\n]\d{{2}}[^\S\n]+|\d{{3,5}}[^\S\n]+)?|[^\S\n]+\d{{4,5}}[^\S\n]+){_L}[\w'-]*"
    rf"(?:[^\S\n]+{_L}[\w'-]*){{0,2}}"
    r"(?:,?[^\S\n]+[A-Z]{2}|,?[^\S\n]+[A-Z][a-z]+(?=[^\S\n]+\d{5}))?(?:[^\S\n]+\d{5}(?:-\d{4})?)?"
)


_GAP = re.compile(r"[^\S\n]+")


def _town_after(text: str, end: int) -> int | None:
    """Where the town after a street ending at ``end`` ends, or None when what follows the
    comma goes on with the sentence (", can we get a loan")."""
    town = _TOWN_AFTER.match(text, end)
    if town is None:
        return None
    # The town's words run up to a word no town has: ", Klirou and wants a copy" keeps
    # "Klirou"; ", can we get a loan" has none.
    stop = None
    for w in re.finditer(r"[^\s,]+", text[town.start() : town.end()]):
        if w.group().lower() in _NOT_TOWN:
            stop = town.start() + w.start()
            break
    if stop is None:
        return town.end()
    kept = text[town.start() : stop].rstrip(" \t,")
    return town.start() + len(kept) if re.search(r"[^\W\d_]", kept) else None


class CuedAddressRecognizer:
    """A house number and a street of any name right after words that announce an address
    ("my address is", "I live at", "moved from", "send it to", "mi dirección es"), with the
    town after a comma. Lower case counts ("58 calle quetzalcoatl, miami"); units, counts and
    product words do not ("send it to 3 accounts", "10 Business Days")."""

    name = "address-cue"

    def find(self, text: str) -> list[Span]:
        # A street without its number, of the bank's own words, is a branch's (the masker
        # keeps it readable: STREET_NAME_RULE).
        out = [
            Span("ADDRESS", m.start(1), m.end(1), 0.5, STREET_NAME_RULE)
            for m in _ON_NAMED_STREET.finditer(text)
        ]
        cues = [(c, False) for c in _ADDRESS_SAID.finditer(text)]
        cues += [(c, True) for c in _ADDRESS_SAID_WEAKLY.finditer(text)]
        for cue, weak in cues:
            number = _HOUSE_NUMBER.match(text, cue.end())
            if number is None:
                typed = self._typed_first(text, cue)
                if typed is None and not weak:
                    typed = self._name_first(text, cue.end())
                if typed is not None:
                    out.append(Span("ADDRESS", cue.end(), typed, 0.5, self.name))
                continue
            # In another language a street is named with its type ("mi dirección es 45 calle
            # tlaloc"); without one, the number counts something ("3 veces rechazada").
            foreign = bool(_FOREIGN_SAID.match(cue.group()))
            if foreign and not _TYPED_STREET.match(text, number.end()):
                continue
            # A building's or flat's number before the house number: "28919 136 Filadelfeos
            # Str.", as "3369 24 Clarke Avenue" is read where no cue comes before.
            flat = _SECOND_NUMBER.match(text, number.end())
            number_end = flat.end() if flat else number.end()
            street = self._street(text, number_end, counts=not foreign)
            if street is None:
                continue
            # A house number after the name too ("172 Maneeži 75, Saareküla").
            also = _NUMBER_AFTER_STREET.match(text, street)
            street = also.end() if also else street
            # An abbreviation's stop before the town's comma: "Filadelfeos Str., Klirou".
            town = _town_after(text, street + 1 if text.startswith(".,", street) else street)
            if weak and not text[number_end].isupper() and town is None:
                continue
            end = town if town is not None else street
            # Below every other address rule: where one of them reads a longer block, it wins.
            out.append(Span("ADDRESS", number.start(), end, 0.5, self.name))
            # "moved from 45 Orchardleigh Avenue to 9 Kestrel Rise": the second one too.
            onward = _MOVED_ONWARD.match(text, end) if "moved" in cue.group().lower() else None
            if onward and (number := _HOUSE_NUMBER.match(text, onward.end())):
                second = self._street(text, number.end())
                if second is not None:
                    out.append(Span("ADDRESS", number.start(), second, 0.5, self.name))
        return out

    @staticmethod
    def _typed_first(text: str, cue: re.Match[str]) -> int | None:
        """Where an address written type first after another language's address words ends
        ("mi direccion es av. insurgentes sur 1602 depto 5, cdmx 03940"): the type, up to four
        words, the house number, a flat and the town; None when no number comes."""
        if not _TYPED_STREET.match(text, cue.end()):
            return None
        m = _TYPED_THEN_NUMBER.match(text, cue.end())
        if m is None:
            return None
        town = _town_after(text, m.end())
        return town if town is not None else m.end()

    @staticmethod
    def _name_first(text: str, pos: int) -> int | None:
        """Where a street written name first, as most of Europe writes it, ends: "Kongens gate
        12, Oslo", "Hafnarstræti 5, 600 Akureyri"; a capital first, up to four words that
        are not units or products ("Account 12", "Gold 2"), the number, the town after a comma.
        None when the words do not read so."""
        m = _NAME_THEN_NUMBER.match(text, pos)
        if m is None or not text[pos].isupper():
            return None
        words = [w.rstrip(".").lower() for w in m.group("street").split()]
        # Two streets joined, the number after the second, as corners are given: "Leon and
        # Eyrarodda 66" (both words capitalised).
        pair = m.group("street").split()
        if len(pair) == 3 and words[1] == "and" and pair[0][0].isupper() and pair[2][0].isupper():
            words = [words[0], words[2]]
        if any(w in _ENDS_STREET or w in _NOT_STREET_NAME or w in _NOT_TOWN for w in words):
            return None
        town = _town_after(text, m.end())
        return town if town is not None else m.end()

    @staticmethod
    def _street(text: str, pos: int, counts: bool = True) -> int | None:
        """Where the street's name at ``pos`` ends, or None when it is a unit, a count or a
        product ("10 Business Days": no address at all, not "10 Business"). ``counts`` off: a
        street typed with its type in another language ("impasse des glycines") has plurals."""
        capitalised = text[pos].isupper()
        end, words = pos, 0
        while words < 4 and (w := _STREET_WORD.match(text, pos)):
            word = w.group()
            bare = word.rstrip(".").lower()
            if counts and _count_word(bare):
                return None
            if bare in _ENDS_STREET:
                break
            # A street begun in capitals ends at a lower-case word ("903 Brightwater
            # covered"); one typed in lower case runs to a word that ends it.
            if words and capitalised and not word[:1].isupper():
                break
            end, words = w.start() + len(word.rstrip(".")), words + 1
            if word.endswith(".") and not _STREET_ABBREVIATION.fullmatch(word):
                break  # the sentence ends: "I live at 9 Penhallow. What is ..."
            spaced = text[w.end() : w.end() + 1] == " "
            nxt = _STREET_WORD.match(text, w.end() + 1) if spaced else None
            if (
                words > 1
                and bare in _ENGLISH_TYPES
                and not (nxt and nxt.group().rstrip(".").lower() in _ENGLISH_TYPES)
            ):
                break  # the street's type ends it: "3 Elm Close Glass Replacement is ..."
            gap = _GAP.match(text, w.end())
            if gap is None:
                break
            pos = gap.end()
        if words == 0:
            return None
        # A unit or product word right after the street's words: "2 Joint Accounts".
        after = _STREET_WORD.match(text, pos) if pos > end and counts else None
        if after and after.group().rstrip(".").lower() in _NOT_STREET_NAME:
            return None
        return end


# ------------------------------------------------------------------ the rest of an address block

# An address block goes on after its street, after a comma or on the lines below (quoted with
# ">" in a reply): "2229 Wolmarans St\nCaxias do Sul, RS 24893", "1317 Kimberly Way\n Apt. 962\n
# Grand Rapids\n United States 21959". Each piece is a flat, a town, a region's code, a postcode
# or a country; the block is kept up to its last piece that only addresses have (a flat, a
# postcode, a country, a region's code after a town), or a town after a comma that ends the
# sentence ("..., Toronto."). A name on the next line ("12 High St\nJohn Smith") is no piece.
_BLOCK_GAP = re.compile(r"[^\S\n]*,?[^\S\n]*(?:\n[^\S\n]*(?:>[^\S\n]*)*){0,2},?[^\S\n]*")
_BLOCK_UNIT = re.compile(
    rf"(?:(?i:{_UNIT}|room|rm|block|blk|bldg|building|int|interno|scala|m|lok|lokal|wohnung|fl|floor"
    r"|dpto|depto|bât|bat|bâtiment|esc|escalier|bajo|entlo|portal)\.?[^\S\n]*#?[^\S\n]*"
    r"(?:\d{1,5}[A-Za-z]?|[A-Z])"
    # A floor and a door or side: "3. OG", "3. tv", "2º B", "2º Esq", "4th floor", "3e étage",
    # "2. OG rechts", "3ος όροφος".
    r"|\d{1,2}(?:\.|º|ª|°|o|st|nd|rd|th|e|er|ème|ος|η)[^\S\n]*(?:(?i:OG|UG|EG|DG|Stock|Etage"
    r"|étage|tv|th|mf|sal|floor|fl|piso|andar|esq|izq|izda|dcha|dto|dir|esquerdo|direito"
    r"|όροφος)\.?(?:[^\S\n]+(?i:links|rechts|li|re|gauche|droite|izquierda|derecha))?"
    r"|[A-Z](?![^\W\d_]))"
    # A floor's name alone ("EG", "UG", "DG"), a Finnish staircase and flat ("A 7").
    r"|(?:EG|UG|DG|PB|RdC)(?![^\W\d_])|[A-Z][^\S\n]\d{1,3})(?![\w/])"
)
_BLOCK_POSTCODE = re.compile(
    r"(?:(?:[A-Z]{1,2}-)?\d{4,6}(?:-\d{4})?|\d{3}[^\S\n]\d{2}|\d{4}-\d{3}|\d{2}-\d{3})(?![\d-])"
    r"|\d{4}[^\S\n]?[A-Z]{2}(?![^\W\d_])"
    r"|[A-Z]{1,2}\d[A-Z\d]?[^\S\n]?\d[A-Z]{2}(?!\w)"  # British: "SW1A 1AA"
    r"|[A-Z]\d[A-Z][^\S\n]?\d[A-Z]\d(?!\w)"  # Canadian: "K1A 0B1"
    # Irish Eircode: "D02 XY45", "T12 AB34", "D6W 1234".
    r"|(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[^\S\n]?[0-9AC-FHKNPRTV-Y]{4}(?!\w)"
)
# Countries as their own people write them too ("Deutschland", "Italia", "España").
_NATIVE_COUNTRIES = (
    r"Deutschland|Österreich|Schweiz|Suisse|Svizzera|Italia|España|Nederland|België|Belgique"
    r"|Danmark|Norge|Sverige|Suomi|Ísland|Polska|Česko|Slovensko|Magyarország|România|Hellas"
    r"|Ελλάδα|Россия|Éire|England|Scotland|Wales|Northern Ireland|United Arab Emirates|UAE"
)
# A town's or a country's qualifier in brackets: "Frankfurt (Oder)", "Halle (Saale)",
# "ΑΓΛΑΝΤΖΙΑ (ΑΓΛΑΓΓΙΑ)".
_BRACKET_PIECE = r"[^\S\n]*\([A-ZÀ-ÞΑ-ΩА-Я][^()\n]{0,29}\)"
_BRACKETED = rf"(?:{_BRACKET_PIECE})?"
_BRACKET = re.compile(_BRACKET_PIECE)
_BLOCK_COUNTRY = re.compile(
    rf"(?:{_COUNTRIES}|{_NATIVE_COUNTRIES}|USA|U\.S\.A\.|UK|U\.K\.)(?![^\W\d_]){_BRACKETED}"
)
_BLOCK_REGION = re.compile(r"[A-Z]{2,3}(?![^\W\d_])")
# A town's word: capitalised, not a country's ("Armenomonastiro Cyprus" is a town, a country).
_CAPITAL_WORD = (
    rf"(?!(?:{_COUNTRIES}|{_NATIVE_COUNTRIES})(?![^\W\d_]))(?:St\.[^\S\n]*|Mt\.[^\S\n]*)?"
    r"[A-ZÀ-ÖØ-ÞĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮİĴĶĹĻĽĿŁŃŅŇŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽΑ-ΩΆ-ΏА-ЯЁ][^\W\d_]*(?:['-][^\W\d_]+)*(?!\w)"
)
_BLOCK_TOWN = re.compile(
    rf"{_CAPITAL_WORD}(?:[^\S\n]+(?:(?:{_PARTICLE}|nad|pod|am|an|im|sur|upon|y|u)[^\S\n]+)?"
    rf"{_CAPITAL_WORD}){{0,3}}{_BRACKETED}"
)
_SENTENCE_ENDS = re.compile(r"[^\S\n]*(?:[.!?;)]|\n|$)")


_UNIT_ENDS = re.compile(rf"(?<![\w-])(?i:{_UNIT})[^\S\n]*#?[^\S\n]*\d{{1,5}}[A-Za-z]?$")
_LOWER_TOWN = re.compile(r"[a-zß-ÿ][a-zß-ÿ'-]+(?:[^\S\n]+[a-zß-ÿ][a-zß-ÿ'-]+){0,2}")


def _all_lower_line(text: str, at: int) -> bool:
    """Whether the line up to ``at`` has no capital letter (an address typed in lower case)."""
    line = text[text.rfind("\n", 0, at) + 1 : at]
    return not any(ch.isupper() for ch in line)


def block_end(text: str, end: int, limit: int | None = None) -> int:
    """Where the address block whose street ends at ``end`` ends, at ``limit`` at the latest:
    ``end`` itself when no flat, town, postcode or country follows it as an address's do."""
    limit = len(text) if limit is None else limit
    kept, pos, town_before, postcode_before = end, end, False, False
    # The street's own match may end with its flat ("... fourth avenue suite 112").
    unit_before = _UNIT_ENDS.search(text, max(0, end - 24), end) is not None
    for _ in range(8):
        # A bracketed qualifier right after the street's town: "15230 Frankfurt (Oder)".
        bracket = _BRACKET.match(text, pos) if pos == kept else None
        if bracket is not None and bracket.end() <= limit:
            kept = pos = bracket.end()
        gap = _BLOCK_GAP.match(text, pos)
        if gap is None or gap.end() == pos:
            break
        at, comma = gap.end(), "," in gap.group()
        anchor = False
        m = (
            _BLOCK_UNIT.match(text, at)
            or _BLOCK_POSTCODE.match(text, at)
            or _BLOCK_COUNTRY.match(text, at)
            or (_BLOCK_REGION.match(text, at) if town_before else None)
        )
        if m:
            anchor, town_before = True, False
            postcode_before = m.re is _BLOCK_POSTCODE
            unit_before = m.re is _BLOCK_UNIT
        elif unit_before and (m := _LOWER_TOWN.match(text, at)) and _all_lower_line(text, at):
            # Typed in lower case throughout: a town after the flat that ends the sentence
            # ("... suite 112 calgary alberta").
            words = set(m.group().split())
            if words & _NOT_TOWN:
                break
            # Anchored where the sentence ends; a postcode after it anchors it in turn
            # ("apt 2 boston ma 02116").
            anchor, town_before, unit_before = (
                bool(_SENTENCE_ENDS.match(text, m.end())),
                True,
                False,
            )
            if not anchor and not _BLOCK_POSTCODE.match(text, m.end() + 1):
                break
        elif m := _BLOCK_TOWN.match(text, at):
            words = {w.lower().strip(".'") for w in m.group().split() if w[:1].isupper()}
            if words & _NOT_TOWN or text.startswith(":", m.end()):
                break  # a label is no town: "...PA 73161\nMobile: 432 03 163"
            # A town after its postcode ("80331 München"), or after a comma or a flat ("Suite
            # 274 Ljubljana", "Apt. 405 Sindi PR") ending the sentence.
            anchor = postcode_before or (
                (comma or unit_before) and bool(_SENTENCE_ENDS.match(text, m.end()))
            )
            town_before, unit_before = True, False
        else:
            break
        if m.re is _BLOCK_TOWN:
            postcode_before = False
        pos = m.end()
        if pos > limit:
            break
        if anchor:
            kept = pos
    return kept


# ------------------------------------------------------------------ a learned address parser

# usaddress (MIT, the `ner` extra): a conditional random field trained on US addresses that
# labels each token of a string as a part of an address. It reads a string that is an address;
# in running text, a window of words from each plausible start (a number, "P.O.", "Apt", ...)
# is given to it and the longest run of address labels from the start is kept.
_PARSER_PARTS = frozenset(
    [
        "AddressNumber",
        "AddressNumberPrefix",
        "AddressNumberSuffix",
        "StreetName",
        "StreetNamePreDirectional",
        "StreetNamePreModifier",
        "StreetNamePreType",
        "StreetNamePostDirectional",
        "StreetNamePostModifier",
        "StreetNamePostType",
        "OccupancyType",
        "OccupancyIdentifier",
        "SubaddressIdentifier",
        "SubaddressType",
        "USPSBoxGroupID",
        "USPSBoxGroupType",
        "USPSBoxID",
        "USPSBoxType",
        "CornerOf",
        "IntersectionSeparator",
        "PlaceName",
        "StateName",
        "ZipCode",
        "BuildingName",
        "LandmarkName",
    ]
)
_PARSER_CORE = frozenset(["StreetName", "USPSBoxID", "OccupancyIdentifier"])
_UNIT_PARTS = frozenset(
    ["OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier"]
)
_PARSER_NUMBERED = frozenset(["AddressNumber", "USPSBoxID", "OccupancyIdentifier", "ZipCode"])
# Parts that name the street or box in words: one must hold a letter.
_PARSER_WORDED = frozenset(
    ["StreetName", "USPSBoxType", "OccupancyType", "StreetNamePostType", "USPSBoxGroupType"]
)
_PARSER_TYPES = frozenset(["StreetNamePostType", "OccupancyType", "StreetNamePostDirectional"])
_PARSER_TOKEN = re.compile(r"\(*\b[^\s,;#&()]+[.,;)\n]*|[#&]")  # as usaddress tokenizes
# Where an address may start: a house number standing alone ("221B", not "5%", "10:30", "21,"
# or "12-month"), a post-office box ("Box 3 on the claim form" alone is none) or a ship.
_PARSER_START = re.compile(r"(?:\d{1,6}[A-Za-z]?|(?i:P\.?O\.?|PO|PSC|USNS|USS))(?=\s|$)")
# An apartment, suite or unit starts one only as the next line or part of an address block
# ("...,\nSuite 343"); alone it is as often a product's word ("Unit 4 repairs").
_PARSER_UNIT_START = re.compile(r"(?<=[,\n])[^\S\n]*(?i:Suite|Apt\.?|Unit)(?=\s)")
# An amount or a card's last digits is no house number: "$668 monthly", "ending 6661 was".
_PARSER_NOT_BEFORE = re.compile(
    r"(?:[$£€¥#]|\b(?i:ending|fee|limit|lasts|every|until|by|rev|version|sku|form|code|of"
    # A reference's number: "Claim 4471 Follow Up", "ticket 5521", "Policy no. 88".
    r"|claim|policy|ticket|case|ref|reference|order|invoice|no\.?|number|nr\.?|account|acct"
    r"|loan|card|item|page|room|flight))\s*$"
)
# A street's name in words is capitalised ("Maneeži", "Oak"), or an ordinal ("5th").
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)\b")
# What the parser takes for a direction must be one ("24 hours. VC-1" is no "24 N Main St").
_DIRECTION = re.compile(
    r"(?i:[NSEW]|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)"
    r"\.?,?"
)
_PARSER_WINDOW = 14  # words given to the parser from each start
# Not an address: long digit runs (accounts, phones), dotted numbers (versions, IPs), "+1",
# fractions and dates ("3/4", "09/27").
_PARSER_NOT = re.compile(r"\d{7,}|\d+\.\d+\.\d+|\+\d|/\d")
_LETTER = re.compile(_L)
# A year and a model's name, no street type: "vehicle: 2019 Civic".
_YEAR_AND_MODEL = re.compile(r"(?:19|20)\d{2}\s+[A-Z][\w-]*")
# A company's name with a number in it ends in its legal form: "I work for 48 Factoring Inc".
_COMPANY_END = re.compile(
    r"\b(?:Inc|Ltd|LLC|LLP|PLC|plc|Corp|Co|GmbH|AG|SA|SAS|BV|NV|AB|AS|Oy|SpA|Pty)\.?[\s,;.]*$"
)


class ParsedAddressRecognizer:
    """Street addresses as the usaddress parser reads them: a run of address parts that names a
    street, box or unit in words and has a number. Found where the patterns of this module and
    ``kinds.py`` miss an address without a street type ("4 Maneeži", "Apt. 762, Carrollton").
    A statistical model, left out for the bank's own documents like the NER model."""

    name = "address-parser"
    statistical = True

    def __init__(self) -> None:
        self._parse: Any = None

    def find(self, text: str) -> list[Span]:
        if self._parse is None:
            self._parse = _parser() or False
        if not self._parse:
            return []
        tokens = [(m.start(), m.end()) for m in _PARSER_TOKEN.finditer(text)]
        out: list[Span] = []
        i = 0
        while i < len(tokens):
            at = tokens[i][0]
            back = at - (at > 0 and text[at - 1] in " \t")
            unit = _PARSER_START.match(text, at) is None
            if (unit and not _PARSER_UNIT_START.match(text, back)) or _PARSER_NOT_BEFORE.search(
                text, max(0, at - 12), at
            ):
                i += 1
                continue
            window = tokens[i : i + _PARSER_WINDOW]
            run = self._address_run(text, window[0][0], window[-1][1], unit)
            if run is None:
                i += 1
                continue
            start, end = run
            out.append(Span("ADDRESS", start, end, 0.6, self.name))
            while i < len(tokens) and tokens[i][0] < end:
                i += 1
        return out

    def _address_run(self, text: str, start: int, end: int, unit: bool) -> tuple[int, int] | None:
        """The address run of ``text[start:end]``; ``unit``: it starts at an apartment, suite
        or unit word, and must then go on to a street or a place ("Unit 4 repairs" is none)."""
        try:
            labelled = self._parse(text[start:end])
        except Exception:  # the parser's own tokenizer gave up on the string: no address
            return None
        run: list[tuple[int, int, str]] = []
        pos = start
        for token, label in labelled:
            at = text.find(token, pos, end)
            if at < 0 or label not in _PARSER_PARTS:
                break
            run.append((at, at + len(token), label))
            pos = at + len(token)
            # A sentence ends after a word of five letters or more and its stop ("Italia.
            # Quanto costa ..."); "St." or "Blvd." is an abbreviation.
            if re.fullmatch(r"[^\W\d_]{5,}[.!?]|\S*[!?]", token):
                break
        # Please or thanks is the sentence's ("80331 München, bitte Karte schicken").
        polite = next(
            (
                i
                for i, (a, b, _) in enumerate(run)
                if i and text[a:b].strip(".,;:!?").lower() in _POLITE
            ),
            None,
        )
        run = run if polite is None else run[:polite]
        # A bracket opened by a lower-case word is the sentence's aside ("Boston (since 2019)").
        aside = next(
            (i for i, (a, _, _) in enumerate(run) if re.match(r"\([a-z]", text[a : a + 2])), None
        )
        run = run if aside is None else run[:aside]
        # Trailing lower-case words are the sentence going on ("... Main St and then"), and so
        # is a capitalised word no town is ("... Apt 5 Please help", "Apt 5 Can you").
        while (
            run
            and run[-1][2] not in _PARSER_TYPES
            and (
                re.fullmatch(r"[a-z][a-z'/]*[.,;:!?]*", word := text[run[-1][0] : run[-1][1]])
                or word.strip(".,;:!?").lower() in _NOT_TOWN
            )
        ):
            run.pop()
        # A town after the street's type with no comma, then the sentence going on in lower
        # case, was the sentence's words: "3 Elm Close Glass Replacement is what I need".
        places = [i for i, (_, _, label) in enumerate(run) if label == "PlaceName"]
        if (
            places
            and places[-1] == len(run) - 1
            and places[0] > 0
            and run[places[0] - 1][2] in _PARSER_TYPES
            and "," not in text[run[places[0] - 1][1] : run[places[0]][0]]
            and re.match(r"[^\S\n]+[a-z]", text[run[-1][1] :])
        ):
            run = run[: places[0]]
        # The same where the parser read every word as the street's: its English type ends
        # it when only capitalised words follow it before the sentence goes on.
        typed = next(
            (
                i
                for i, (a, b, label) in enumerate(run)
                if i > 1
                and label in ("StreetName", "StreetNamePostType")
                and text[a:b].rstrip(".,").lower() in _ENGLISH_TYPES
            ),
            None,
        )
        if (
            typed is not None
            and typed < len(run) - 1
            and all(text[a : a + 1].isupper() for a, _, _ in run[typed + 1 :])
            and "," not in text[run[typed][1] : run[-1][1]]
            and re.match(r"[^\S\n]+[a-z]", text[run[-1][1] :])
        ):
            run = run[: typed + 1]
        if not run:
            return None
        labels = {label for _, _, label in run}
        if unit and labels <= _UNIT_PARTS:
            return None
        worded = any(_LETTER.search(text[a:b]) for a, b, lab in run if lab in _PARSER_WORDED)
        streets = [text[a:b] for a, b, lab in run if lab in ("StreetName", "StreetNamePostType")]
        directions = [text[a:b] for a, b, lab in run if lab.endswith("Directional")]
        numbers = [text[a:b] for a, b, lab in run if lab == "AddressNumber"]
        block = text[run[0][0] : run[-1][1]]
        if (
            not worded
            or not all(w[:1].isupper() or _ORDINAL.match(w) for w in streets)
            or any(_count_word(w.strip(".,;:!?").lower()) for w in streets)
            or not all(_DIRECTION.fullmatch(w) for w in directions)
            or not labels & _PARSER_CORE
            or not labels & _PARSER_NUMBERED
            or any(len(re.sub(r"\D", "", n)) > 6 for n in numbers)
            or _PARSER_NOT.search(block)
            or _COMPANY_END.search(block)
            or _YEAR_AND_MODEL.fullmatch(block.rstrip(" ,.;:!?\n"))
        ):
            return None
        return run[0][0], run[0][0] + len(block.rstrip(" ,.;\n"))


def _parser() -> Any:
    """usaddress's ``parse``, or None where the ``ner`` extra is not installed."""
    try:
        import usaddress  # type: ignore[import-untyped]
    except ImportError:
        return None
    return usaddress.parse


def address_parser_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("usaddress") is not None
