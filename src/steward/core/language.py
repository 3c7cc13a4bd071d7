"""Which language a question is written in, from function words (offline, no model).

Conservative by design: it names a language only when several of that language's function
words occur and clearly outnumber every other's; otherwise it says nothing, and nothing is
decided on it. Used by per-center policies (``language``): a question in a language the
center does not serve goes to a person instead of being answered from sources in another.
"""

from __future__ import annotations

import re

_WORDS = {
    "en": "the and is are what how do does can my i you to of for in with this that it be "
    "have not on or when where which will would should",
    "de": "der die das und ist sind wie was ich mein meine meinen kann können nicht mit für "
    "ein eine einen auf zu den dem des ist wird werden wo wann warum habe haben sie mich "
    "uns wegen bei wurde wurden hat meinem meiner mir jemand",
    "fr": "le la les et est sont comment quoi je mon ma mes peut pouvez pas avec pour un une "
    "des du au aux sur dans où quand pourquoi ai avez",
    "es": "el la los las y es son cómo qué yo mi mis puede puedo no con para un una del al "
    "en sobre dónde cuándo por tengo tiene me le alguien ahora hay está estoy",
    "it": "il lo la gli le e è sono come cosa io mio mia posso può non con per un una del "
    "della al sul dove quando perché ho ha hanno dalla sui ci gli",
    "nl": "de het een en is zijn hoe wat ik mijn kan kunnen niet met voor op aan van waar "
    "wanneer waarom heb heeft",
    "pt": "o a os as e é são como que eu meu minha posso pode não com para um uma do da no "
    "na onde quando porque tenho tem",
}
# Words as frequent in short questions as function words, and as telling: how much, costs,
# I would like, thanks, hello, dear ("quanto costa la carta oro?" has one function word).
_QUESTION_WORDS = {
    "de": "wieviel kostet kosten möchte danke hallo bitte",
    "fr": "combien coûte coûtent voudrais merci bonjour chère cher",
    "es": "cuánto cuánta cuesta cuestan quiero gracias hola estimado estimada",
    "it": "quanto quanta quanti costa costano vorrei grazie buongiorno gentile",
    "nl": "hoeveel kost graag bedankt uw beste geachte",
    "pt": "quanto quanta custa custam gostaria obrigado obrigada olá prezado prezada",
}
_SETS = {
    lang: frozenset(f"{words} {_QUESTION_WORDS.get(lang, '')}".split())
    for lang, words in _WORDS.items()
}
_FUNCTION_SETS = {lang: frozenset(words.split()) for lang, words in _WORDS.items()}
# Languages the English models must not read, though no policy routes on them (yet): their
# function words count in ``function_words`` (the English-model gate), not in ``detect``.
_GATE_ONLY = {
    "no": "jeg hvordan hva hvor hvorfor når mitt mine ikke og er et til på med kan har det "
    "som av fra hei takk koster mye",
    "sv": "jag hur vad var varför när mitt mina inte och är ett till på med kan har det som "
    "av från hej tack kostar mycket",
    "da": "jeg hvordan hvad hvor hvorfor hvornår mit mine ikke og er et til på med kan har "
    "det som af fra hej tak koster meget",
    "fi": "minä mitä mikä miten miksi missä milloin minun mun minulla ei ja on olen voin voi "
    "kun että se tämä hei moi kiitos kuinka paljon maksaa onko voinko haluan",
}
_GATE_SETS = _SETS | {lang: frozenset(words.split()) for lang, words in _GATE_ONLY.items()}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


def function_words(text: str) -> dict[str, int]:
    """How many of each language's function words ``text`` holds."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    return {lang: sum(w in s for w in words) for lang, s in _GATE_SETS.items()}


def may_be_english(text: str) -> bool:
    """No other language's function words outnumber English ones by two or more (short or
    word-less text may be English): the gate for English-only models. The margin is two
    because English text names people with particles that are other languages' function
    words ("Maria de la Cruz", "Jan van der Berg")."""
    hits = function_words(text)
    # Nordic and Finnish words are no name's particles: more of them than English ones is
    # enough ("Mikä on lasivahingon omavastuu?").
    if any(hits[lang] > hits["en"] for lang in _GATE_ONLY):
        return False
    return max(n for lang, n in hits.items() if lang != "en") < hits["en"] + 2


# A name's particles, which are other languages' function words too ("Jan van der Berg"), and
# words of other languages that are never a name, though the English model may tag them as one.
_PARTICLE_WORDS = "de la las los del della da di do dos das du van von der den ter ten le zu"
_NOT_NAME_WORDS = (
    "número numero nummer rufnummer téléphone telefon teléfono telefono llámame llamame "
    "geboren geburtsdatum naissance nacimiento nascita geboortedatum"
)
_PARTICLES = frozenset(_PARTICLE_WORDS.split())
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


def foreign_word(word: str) -> bool:
    """Whether ``word`` is a function word of a language other than English (a name's
    particles aside) or another language's word for a telephone number."""
    w = word.casefold().strip(".,;:!?")
    if w in _NOT_NAMES:
        return True
    # An initial ("E. Costa") is no word of any language; question words ("costa") are names
    # too often to count.
    if len(w) < 2 or w in _PARTICLES or w in _FUNCTION_SETS["en"]:
        return False
    return any(w in s for lang, s in _FUNCTION_SETS.items() if lang != "en")


def detect(text: str, min_hits: int = 3) -> str | None:
    """The language code whose function words dominate ``text``, or None when unsure."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    if len(words) < 4:
        return None
    hits = {lang: sum(w in s for w in words) for lang, s in _SETS.items()}
    ranked = sorted(hits.items(), key=lambda kv: -kv[1])
    (best, n), (_, second) = ranked[0], ranked[1]
    if n >= min_hits and n >= 2 * second + 1:
        return best
    return None


# Words that make a message in another language urgent: the learned risk detector reads
# English, so a fraud report or a threat of self-harm in a language the center does not serve
# would otherwise wait in the language queue (p3). Matched on lower-case text, accents kept.
_URGENT = {
    "fraud": {
        "es": r"fraude|estaf|tim(?:o|ad[oa])\b|me han robado|me robaron|hacke|suplantaci"
        r"|no reconozco|robaron mi identidad|identidad robada|sms falso|correo falso"
        r"|(?:mov|transfer|pas)\w* [^.]{0,40}cuenta segura|le di (?:mi|el|la) (?:c[óo]digo|clave"
        r"|pin|contrase)",
        "fr": r"fraud|arnaque|escroqu|pirat[ée]|usurp|je ne reconnais pas|vol d'identit"
        r"|(?:vir|transf[ée]r|d[ée]plac)\w* [^.]{0,40}compte s[ée]curis"
        r"|faux (?:conseiller|policier|gendarme|sms|mail|courriel)|j'ai donn[ée] (?:le|mon) code",
        "de": r"betrug|betrog|betr[üu]ger|gehackt|nicht autorisiert|nicht von mir"
        r"|(?:überweis|verschieb)\w* [^.]{0,40}sicheres konto|telefontrick|reingefallen"
        r"|falsche[rn]? (?:polizist|bankmitarbeiter)|identit[äa]tsdiebstahl|identit[äa]t gestohlen",
        "it": r"truff|frode|raggir|hackerat|non riconosco|rubato la mia identit"
        r"|(?:trasfer|spost|sposta)\w* [^.]{0,40}conto (?:sicuro|protetto)"
        r"|fint[oa] (?:carabiniere|operatore|poliziotto|impiegato)|fals[ao] (?:email|mail|sms)",
        "pt": r"fraude|golpe(?!s? de (?:granizo|vento|ar|calor|sorte))|golpista|clonad|invadiram"
        r"|n[ãa]o reconhe[çc]o|roubaram a minha identidade|ca[íi] n(?:um|o) (?:golpe|esquema)"
        r"|(?:transfer|mov|pass)\w* [^.]{0,40}conta segura"
        r"|fals[oa] (?:atendente|funcion[áa]rio|policial)",
        "nl": r"fraude|oplicht|opgelicht|gehackt|niet herken|identiteit gestolen"
        r"|(?:overmak|overschrijv|zet)\w* [^.]{0,40}veilige rekening|nep-?(?:bank|politie)",
    },
    "emotional": {
        "es": r"suicid|quitarme la vida|no quiero vivir|quiero morir|matarme",
        "fr": r"suicid|en finir avec (?:la vie|tout|ma vie)|plus envie de vivre|envie de mourir"
        r"|me tuer",
        "de": r"suizid|selbstmord|nicht mehr leben|mich umbringen|sterben will",
        "it": r"suicid|farla finita|non voglio pi[ùu] vivere|voglio morire|uccidermi",
        "pt": r"suic[íi]d|tirar (?:a )?minha vida|n[ãa]o quero mais viver|me matar|quero morrer",
        "nl": r"zelfmoord|niet meer leven|er een eind aan maken|zie het niet meer zitten",
    },
}
_URGENT_RX = {
    reason: {lang: re.compile(rf"(?<!\w)(?:{rx})") for lang, rx in by_lang.items()}
    for reason, by_lang in _URGENT.items()
}


def likely(text: str) -> str | None:
    """The language with most function words in ``text`` when it has two or more and more than
    English: a weaker reading than ``detect``, used only to choose which urgent words to look
    for, never to route a question."""
    hits = function_words(text)
    lang, n = max(hits.items(), key=lambda kv: kv[1])
    return lang if n >= 2 and lang != "en" and n > hits["en"] else None


def urgent_reason(text: str, lang: str | None) -> str | None:
    """``fraud`` or ``emotional`` when ``text`` reports either in the words of ``lang`` or, when
    it has no English function word at all (too short to tell its language: "creo que me han
    timado"), of any language with a table; None otherwise."""
    folded = text.casefold()
    langs = [lang] if lang else []
    if not function_words(text)["en"]:
        langs += [other for other in _URGENT["fraud"] if other != lang]
    for reason, by_lang in _URGENT_RX.items():
        if any(by_lang[x].search(folded) for x in langs if x in by_lang):
            return reason
    return None
