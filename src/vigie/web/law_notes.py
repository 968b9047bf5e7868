# ruff: noqa: E501  (a catalogue: one English fragment and its French per entry, unbroken)
"""The legal engine's notes in French, translated here because the engine's English is a
contract (`vigie law assess`, the API's decision JSON) that the web layer must not change.

A note is built by the engine from fragments joined by "; ", ": " and parentheses. The catalogue
maps each fragment (a regular expression, named groups for its figures) to its French; a note is
translated only when every fragment of it is known, so nothing half-English is shown as French.
Dates and ISO durations are then written as law_words writes them (20/05/2027, "2 ans 6 mois").
"""

from __future__ import annotations

import re
from collections.abc import Callable

from vigie.web.i18n import catalogue
from vigie.web.law_words import prose

_D = r"\d{4}-\d{2}-\d{2}"
# An assumption's note (``trace.assume``): the field's key and the value taken.
_ASSUMED = r"(?P<f>\w+) not given: (?P<v>[^;]+?) taken"
_BOOL = {"false": "non", "true": "oui"}
_WHERE = {
    "spouse": "le conjoint",
    "cohabitee (concubin)": "le concubin",
    "former PACS partner": "l'ancien partenaire de PACS",
    "PACS partner": "le partenaire de PACS",
    "former spouse": "l'ancien conjoint",
    "former cohabitee (concubin)": "l'ancien concubin",
}
_MONTH_END = "fin de mois : le dernier jour du mois (délai, recherche à rebours)"
_CLAMP = "les mois ramenés au dernier jour du mois"

Render = str | Callable[[re.Match[str]], str]

# Longest and most specific fragments first: a fragment replaced is not matched again.
_FRAGMENTS: list[tuple[str, Render]] = [
    # LSC (720, D147-*)
    (
        r"appeal within 24 hours of notification: expires at midnight the day after \(D49-39\), carried past a Saturday, Sunday or holiday \(CPP 801; Cass\. crim\. 21 Feb 2007, n° 06-85\.078\)",
        "appel dans les 24 heures de la notification : expire à minuit le lendemain (D49-39), reporté au-delà d'un samedi, dimanche ou jour férié (CPP 801 ; Cass. crim. 21 févr. 2007, n° 06-85.078)",
    ),
    (rf"notified (?P<n>{_D}), by (?P<by>{_D}) 24:00", "notifiée le {n}, jusqu'au {by} 24 h"),
    (
        rf"(?P<d>{_D}) is a Saturday, Sunday or holiday: CPP 801",
        "le {d} est un samedi, dimanche ou jour férié : CPP 801",
    ),
    (
        r"no execution before midnight the day after notification to the parquet, unless it endorses that it does not appeal \(« également applicables aux décisions ordonnant une libération sous contrainte »\)",
        "pas d'exécution avant minuit le lendemain de la notification au parquet, sauf visa de non-appel (« également applicables aux décisions ordonnant une libération sous contrainte »)",
    ),
    (
        r"after an appeal, the other party has 24 more hours for an appel incident \(D49-39-1\)",
        "après un appel, l'autre partie dispose de 24 heures de plus pour un appel incident (D49-39-1)",
    ),
    (
        rf"examination by the JAP from (?P<d>{_D}) \(not a release date\)",
        "examen par le JAP à partir du {d} (ce n'est pas une date de libération)",
    ),
    (
        r"served (?P<s>\d+) d >= 2 x left (?P<l>\d+) d \(T = (?P<t>\d+) d\)",
        "{s} j exécutés >= 2 x {l} j restants (T = {t} j)",
    ),
    (
        r"without a decision from that day, the CHAP president may be seized by the prisoner or the parquet, or act of his own motion, and rules within a month \(720-I al\. 5, D147-18\)",
        "sans décision à cette date, le président de la CHAP peut être saisi par le condamné ou le parquet, ou se saisir d'office, et statue dans le mois (720-I al. 5, D147-18)",
    ),
    (r"the judge must examine", "le juge doit examiner"),
    (
        r"refusal only by a specially reasoned order",
        "refus seulement par ordonnance spécialement motivée",
    ),
    (
        r"modalities: parole \(LC\), DDSE, placement extérieur, semi-liberté",
        "modalités : libération conditionnelle (LC), DDSE, placement extérieur, semi-liberté",
    ),
    (
        r"summed legal duration (?P<a>P\w+) (?P<op>[<>]=?) (?P<b>P\w+)",
        "durée légale cumulée {a} {op} {b}",
    ),
    (rf"law in force on (?P<d>{_D}), the date of effect", "loi en vigueur au {d}, date d'effet"),
    (
        rf"720-II \(in force (?P<f>{_D})\) comes too late: the term ends (?P<e>{_D})",
        "le 720-II (en vigueur le {f}) arrive trop tard : la peine prend fin le {e}",
    ),
    (
        rf"from (?P<d>{_D}): (?P<n>\d+) d left \(<= 3 months to (?P<e>{_D})",
        "à partir du {d} : {n} j restants (<= 3 mois avant le {e}",
    ),
    (r"three months or less left already at committal", "trois mois ou moins restants dès l'écrou"),
    (
        r"backward search, month end: the month's last day \(délai, backward search\)",
        "recherche à rebours, " + _MONTH_END,
    ),
    (
        r"backward, month end: the month's last day \(délai, backward search\)",
        "à rebours, " + _MONTH_END,
    ),
    (
        r"month end = the month's last day \(délai, backward search\)",
        "fin de mois = le dernier jour du mois (délai, recherche à rebours)",
    ),
    (r"month end: the month's last day \(délai, backward search\)", _MONTH_END),
    (r"no refusal made known", "aucun refus exprimé"),
    (
        r"refusal made known: does NOT bar 720-II \(« même si elle s'y oppose »\)",
        "refus exprimé : n'empêche PAS le 720-II (« même si elle s'y oppose »)",
    ),
    (r"refusal made known", "refus exprimé"),
    (
        r"no refusal \(would not bar 720-II anyway\)",
        "aucun refus (n'empêcherait pas le 720-II de toute façon)",
    ),
    (r"no adjustment request pending", "aucune demande d'aménagement en cours"),
    (
        r"request pending: the adjustment itself must be ordered unless impossible",
        "demande en cours : l'aménagement lui-même doit être ordonné sauf impossibilité",
    ),
    (
        r"request pending: does NOT bar 720-II \(D147-24; the public summary says so\)",
        "demande en cours : n'empêche PAS le 720-II (D147-24 ; la fiche publique le dit)",
    ),
    (
        r"no request pending \(would not bar 720-II anyway\)",
        "aucune demande en cours (n'empêcherait pas le 720-II de toute façon)",
    ),
    (r"accommodation available", "hébergement disponible"),
    (r"no accommodation: material impossibility", "pas d'hébergement : impossibilité matérielle"),
    (r"no sentence for a crime", "aucune peine pour crime"),
    (r"a sentence for a crime", "une peine pour crime"),
    (r"no such sanction", "aucune sanction de ce type"),
    (r"no such offence", "aucune infraction de ce type"),
    (
        r"720-III disciplinary sanction for violence",
        "720-III sanction disciplinaire pour violences",
    ),
    (r"disciplinary sanction for violence", "sanction disciplinaire pour violences"),
    (
        r"material impossibility \(no accommodation\)",
        "impossibilité matérielle (pas d'hébergement)",
    ),
    (r"offence tag\(s\): (?P<tags>[\w, ]+)", "infraction(s) marquée(s) : {tags}"),
    (r"not under an aménagement sous écrou", "pas sous aménagement sous écrou"),
    (
        r"already under DDSE, semi-liberté or placement extérieur: neither I nor II",
        "déjà sous DDSE, semi-liberté ou placement extérieur : ni I ni II",
    ),
    (
        r"placement extérieur supervised by prison staff: the LSC stays open",
        "placement extérieur encadré par le personnel pénitentiaire : la LSC reste ouverte",
    ),
    (
        r"720-II applies, so 720-I is not examined",
        "le 720-II s'applique, le 720-I n'est donc pas examiné",
    ),
    (
        rf"tell the prisoner by (?P<d>{_D}) \(one month before (?P<e>{_D}), ",
        "informer le condamné au plus tard le {d} (un mois avant le {e}, ",
    ),
    (
        r"or at committal for a sentence of six months or less\)",
        "ou à l'écrou pour une peine de six mois ou moins)",
    ),
    (
        rf"release on (?P<r>{_D}): appear before the SPIP within 5 jours ouvrables, by (?P<d>{_D})",
        "libération le {r} : se présenter au SPIP dans les 5 jours ouvrables, au plus tard le {d}",
    ),
    (
        r"\(if the judge grants the LSC on the examination date\)",
        "(si le juge accorde la LSC à la date d'examen)",
    ),
    # thresholds of the fiche pénale
    (r"total (?P<t>P\w+) (?P<op>[<>]=?) 5 years", "total {t} {op} 5 ans"),
    (r"total (?P<t>P\w+) over 5 years", "total {t} au-delà de 5 ans"),
    (r"total (?P<t>P\w+)", "total {t}"),
    (r"720-III excludes (?P<ids>[\w, ]+)", "le 720-III exclut {ids}"),
    (
        rf"the term ends before 720-II came into force \((?P<d>{_D})\)",
        "la peine prend fin avant l'entrée en vigueur du 720-II ({d})",
    ),
    (
        rf"in force from (?P<d>{_D}) for a prisoner already serving then",
        "en vigueur depuis le {d} pour un condamné alors déjà détenu",
    ),
    (
        r"<= 6 months: DDSE, SL or PE « doit », unless impossible",
        "<= 6 mois : DDSE, SL ou PE « doit », sauf impossibilité",
    ),
    (r"parole at half sentence", "libération conditionnelle à mi-peine"),
    (
        r"parent of a child under 10 living with them, or pregnant over 12 weeks \(fact not given: conditional\)",
        "parent d'un enfant de moins de 10 ans résidant avec lui, ou femme enceinte de plus de 12 semaines (fait non fourni : conditionnel)",
    ),
    (
        r"no parole, semi-liberté, placement or permission before",
        "ni libération conditionnelle, semi-liberté, placement ni permission avant",
    ),
    (r"reductions only on the part beyond", "réductions seulement sur la partie au-delà"),
    (
        r"start less credits \(\+\) the période de sûreté, date to date",
        "début moins les imputations (+) la période de sûreté, de date à date",
    ),
    (
        r"first day with served >= 2 x left: ceil\(2 x (?P<n>\d+) / 3\) days served",
        "premier jour où l'exécuté >= 2 x le restant : plafond(2 x {n} / 3) jours exécutés",
    ),
    (
        r"first day with served >= left: ceil\((?P<n>\d+) / 2\) days served",
        "premier jour où l'exécuté >= le restant : plafond({n} / 2) jours exécutés",
    ),
    (r"not before the end of the période de sûreté", "pas avant la fin de la période de sûreté"),
    (
        r"earliest t with t \(\+\) 3 months >= end, months clamped to the month's last day",
        "premier t tel que t (+) 3 mois >= la fin, " + _CLAMP,
    ),
    (
        r"before incarceration: total pronounced, or left to serve, <= 1 year \(left: earliest t with t \(\+\) 12 months >= end, clamped, on or before the start\)",
        "avant incarcération : total prononcé, ou reste à exécuter, <= 1 an (reste : premier t tel que t (+) 12 mois >= la fin, ramené, au plus tard au début)",
    ),
    (
        r"at sentencing: aménagement for a sentence <= 1 year \(« doit » up to 6 months\)",
        "au prononcé : aménagement pour une peine <= 1 an (« doit » jusqu'à 6 mois)",
    ),
    (r"total <= (?P<n>\d+) years: from the start", "total <= {n} ans : dès le début"),
    (
        r"else earliest t with <= (?P<n>\d+) years left \(clamp\)",
        "sinon premier t avec <= {n} ans restants (ramené)",
    ),
    (
        r"two thirds served: ceil\(2 x (?P<n>\d+) / 3\) days",
        "deux tiers exécutés : plafond(2 x {n} / 3) jours",
    ),
    # the fiche's deadlines
    (
        rf"no examination at two thirds \((?P<d>{_D})\): the CHAP president may be seized \(720-I al\. 5\)",
        "pas d'examen aux deux tiers ({d}) : le président de la CHAP peut être saisi (720-I al. 5)",
    ),
    (
        r"forward, the day after the two-thirds date; no CPP 801 \(not a délai to act\)",
        "en avant, le lendemain des deux tiers ; pas de CPP 801 (ce n'est pas un délai pour agir)",
    ),
    (
        rf"(?P<id>\w+): reductions for the pre-trial detention, conviction final on (?P<d>{_D})",
        "{id} : réductions au titre de la détention provisoire, condamnation définitive le {d}",
    ),
    (
        r"(?P<dir>forward|backward), (?P<n>\d+) months date to date clamped to the month's last day, then (?P<then>CPP 801|the business day before)",
        lambda m: (
            f"{_DIR[m['dir']]}, {m['n']} mois de date à date ramenés au dernier jour du mois, puis {_THEN[m['then']]}"
        ),
    ),
    (
        r"no execution before, without the parquet's visa",
        "pas d'exécution avant, sans le visa du parquet",
    ),
    (
        r"forward, 24 hours from the notification to the parquet; no CPP 801 \(a stay, not a délai to act\)",
        "en avant, 24 heures après la notification au parquet ; pas de CPP 801 (un sursis, pas un délai pour agir)",
    ),
    (
        rf"dangerousness examination at least one year before release \((?P<d>{_D})\)",
        "examen de dangerosité au moins un an avant la libération ({d})",
    ),
    (
        rf"device fitted at the latest a week before release \((?P<d>{_D})\)",
        "dispositif posé au plus tard une semaine avant la libération ({d})",
    ),
    (
        r"backward, (?P<n>\d+) days, then the business day before \(2029 numbering, ord\. 2025-1091\)",
        "à rebours, {n} jours, puis le jour ouvré précédent (numérotation 2029, ord. 2025-1091)",
    ),
    (
        rf"renewal decided no later than six months before expiry \((?P<d>{_D})\)",
        "renouvellement décidé au plus tard six mois avant l'échéance ({d})",
    ),
    # the fiche's computation
    (
        r"metropolitan holidays \(no local calendar given or needed\)",
        "jours fériés métropolitains (aucun calendrier local fourni ni nécessaire)",
    ),
    (
        r"holidays of département (?P<d>\w+): local calendar (?P<c>\w+)",
        "jours fériés du département {d} : calendrier local {c}",
    ),
    (
        r"(?P<a>\w+) confused with (?P<b>\w+): one quantum executed, (?P<q>P\w+) \(the longest, from (?P<c>\w+)\)",
        "{a} confondue avec {b} : un seul quantum exécuté, {q} (le plus long, de {c})",
    ),
    (
        r"their credits are deducted from it \(716-4 « après confusion »\)",
        "leurs imputations s'en déduisent (716-4 « après confusion »)",
    ),
    (
        rf"(?P<k>arse|dp|eaw|mandat) from (?P<a>{_D}) to (?P<b>{_D}): (?P<n>\d+) day\(s\), first and last day counted, deducted from (?P<id>\w+)",
        lambda m: (
            f"{_CREDIT[m['k']]} du {m['a']} au {m['b']} : {m['n']} jour(s), premier et dernier jours comptés, imputé(s) sur {m['id']}"
        ),
    ),
    (
        rf"(?P<id>\w+) put into execution on (?P<a>{_D}) while (?P<b>{_D}) was still due: executed from (?P<c>{_D}), after the sentence before it",
        "{id} mise à exécution le {a} alors que le {b} restait dû : exécutée à partir du {c}, après la peine qui la précède",
    ),
    (
        rf"assuming the (?P<n>\d+) d still open under the ceiling are granted: end (?P<e>{_D}), release (?P<r>{_D}) \(716-3\)",
        "en supposant accordés les {n} j encore ouverts sous le plafond : fin le {e}, libération le {r} (716-3)",
    ),
    (
        rf"écrou (?P<d>{_D}): reductions granted by the judge, (?P<g>\d+) d granted, (?P<w>\d+) d withdrawn",
        "écrou le {d} : réductions accordées par le juge, {g} j accordés, {w} j retirés",
    ),
    (
        r"ceiling (?P<c>\d+) d on the total \((?P<kind>\w+) on (?P<q>P\w+): (?P<m>\d+) m \+ (?P<dd>\d+) d\)",
        lambda m: (
            f"plafond de {m['c']} j sur le total ({_KIND.get(m['kind'], m['kind'])} sur {m['q']} : {m['m']} mois + {m['dd']} j)"
        ),
    ),
    (
        r"the probable release assumes the rest of the ceiling granted",
        "la libération probable suppose le reste du plafond accordé",
    ),
    (
        rf"écrou (?P<d>{_D}): CRP credited at écrou per sentence \((?P<n>\d+) d\), (?P<w>\d+) d withdrawn",
        "écrou le {d} : CRP imputé à l'écrou par peine ({n} j), {w} j retirés",
    ),
    (
        r"RPS granted (?P<g>\d+) d of a ceiling of (?P<c>\d+) d \(CRP (?P<a>\d+) m \+ (?P<b>\d+) d = (?P<t>\d+) d",
        "RPS accordées {g} j sur un plafond de {c} j (CRP {a} mois + {b} j = {t} j",
    ),
    (r"RPS (?P<a>\d+) m \+ (?P<b>\d+) d(?P<p>\)?)", "RPS {a} mois + {b} j{p}"),
    (
        rf"end (?P<e>{_D}); release (?P<r>{_D}) \(a Sunday or holiday moves it to the jour ouvrable before\)",
        "fin le {e} ; libération le {r} (un dimanche ou jour férié la ramène au jour ouvrable précédent)",
    ),
    (
        r"(?P<id>\w+): revoked suspended part\(s\) (?P<q>P\w+) served after the firm part, without confusion with it",
        "{id} : sursis révoqué(s) {q} exécuté(s) après la partie ferme, sans confusion avec elle",
    ),
    (
        rf"(?P<id>\w+): (?P<a>\d+) d credited or reduced cover its (?P<b>\d+) d: served on (?P<d>{_D})",
        "{id} : {a} j imputés ou réduits couvrent ses {b} j : exécutée le {d}",
    ),
    (
        rf"ARSE from (?P<a>{_D}) revoked on (?P<b>{_D}) into pre-trial detention \(142-8\): the ARSE days count as detention \(enter them as a credit of kind arse\)",
        "ARSE du {a} révoquée le {b} en détention provisoire (142-8) : les jours d'ARSE comptent comme détention (les saisir comme imputation de type arse)",
    ),
    (
        r"LSC \(720: « les conséquences de l'inobservation \.\.\. sont celles prévues au présent code »\)",
        "LSC (720 : « les conséquences de l'inobservation ... sont celles prévues au présent code »)",
    ),
    (
        rf"parole from (?P<a>{_D}) revoked on (?P<b>{_D}): the time on parole \((?P<n>\d+) d\) does not count",
        "libération conditionnelle du {a} révoquée le {b} : le temps en libération conditionnelle ({n} j) ne compte pas",
    ),
    (
        r"the person serves what was left on the day of release \(all of it, unless the decision says less\)",
        "la personne exécute ce qui restait au jour de la libération (en totalité, sauf si la décision dit moins)",
    ),
    (
        rf"measure under DDSE from (?P<a>{_D}) withdrawn on (?P<b>{_D}): it was served sous écrou, the time under it counts",
        "mesure sous DDSE du {a} retirée le {b} : elle était exécutée sous écrou, le temps passé compte",
    ),
    (
        r"what is left is what remained on the decision's date",
        "le reste est ce qui restait à la date de la décision",
    ),
    # assumptions
    (_ASSUMED, lambda m: _assumed(m, "fr")),
    (r"D147-19, D147-24", "D147-19, D147-24"),
    (
        r"continuous detention: committal less the pre-trial days \(the 721 regime follows it\)",
        "détention continue : écrou moins les jours de détention provisoire (le régime du 721 le suit)",
    ),
    (
        r"the earliest detention on the fiche \(the 721 regime follows the first écrou\)",
        "la première détention de la fiche (le régime du 721 suit le premier écrou)",
    ),
    (r"no compensation_deadline without it", "pas d'échéance d'indemnisation sans elle"),
    (
        r"no appeal_deadline without the notification date",
        "pas de fin du délai d'appel sans la date de notification",
    ),
    (r"the 142-12-1 ARSEM route", "la voie ARSEM du 142-12-1"),
    (r"D147-24 al\. 1", "D147-24 al. 1"),
    (
        r"PSEM is a measure of the suivi socio-judiciaire",
        "la PSEM est une mesure du suivi socio-judiciaire",
    ),
    # ARSE
    (
        r"judge rules within (?P<j>\d+) days, else the chamber within (?P<c>\d+) days",
        "le juge statue dans les {j} jours, sinon la chambre dans les {c} jours",
    ),
    (
        rf"judge by (?P<j>{_D}); if seized on (?P<s>{_D}), chamber by (?P<c>{_D}) or lifted",
        "juge au plus tard le {j} ; si saisie le {s}, chambre au plus tard le {c}, sinon mainlevée",
    ),
    (
        r"every day under ARSE will be credited against a later prison sentence",
        "chaque jour sous ARSE s'imputera sur une peine d'emprisonnement ultérieure",
    ),
    (r"no partner violence", "pas de violences conjugales"),
    (r"partner violence", "violences conjugales"),
    (
        r"(?P<n>[\d.]+) year\(s\) incurred \((?P<op>[<>]=?) (?P<m>\d+) needed\)",
        "{n} an(s) encouru(s) ({op} {m} requis)",
    ),
    (
        r"(?P<n>[\d.]+) year\(s\) incurred (?P<op>[<>]=?) (?P<m>\d+)",
        "{n} an(s) encouru(s) {op} {m}",
    ),
    (r"no consent with a lawyer", "pas de consentement en présence d'un avocat"),
    (r"not mis en examen", "pas mis en examen"),
    (r"mis en examen", "mis en examen"),
    (r"socio-judicial supervision not incurred", "suivi socio-judiciaire non encouru"),
    (r"socio-judicial supervision incurred", "suivi socio-judiciaire encouru"),
    (r"ordered d'office or on request", "ordonnée d'office ou sur demande"),
    (
        r"consent (?P<c>given|not given|not stated) \(informative only\)",
        lambda m: f"consentement {_CONSENT[m['c']]} (à titre informatif)",
    ),
    (
        r"the person is told that refusing the fitting is a breach \(revocation, detention\)",
        "la personne est avisée que refuser la pose est un manquement (révocation, détention)",
    ),
    (r"SPIP check not done", "vérification du SPIP non faite"),
    (r"SPIP check done", "vérification du SPIP faite"),
    (rf"current term ends (?P<e>{_D})", "la période en cours prend fin le {e}"),
    (rf"the measure cannot run beyond (?P<d>{_D})", "la mesure ne peut aller au-delà du {d}"),
    (
        r"(?P<n>\d+) renewal\(s\) so far, at most (?P<m>\d+)",
        "{n} renouvellement(s) à ce jour, au plus {m}",
    ),
    (
        r"compensation may be asked within (?P<n>\d+) months of a final dismissal or acquittal \(a délai: ",
        "l'indemnisation peut être demandée dans les {n} mois d'un non-lieu, d'une relaxe ou d'un acquittement définitif (un délai : ",
    ),
    (r", then CPP 801\)", ", puis CPP 801)"),
    (
        r"appeal within (?P<n>\d+) days of notification",
        "appel dans les {n} jours de la notification",
    ),
    (
        rf"order of (?P<o>{_D}): fit the device by (?P<d>{_D})",
        "ordonnance du {o} : poser le dispositif au plus tard le {d}",
    ),
    (
        r"\(ARSEM ordered on release: before release\)",
        "(ARSEM ordonnée à la libération : avant la libération)",
    ),
    # BAR
    (r"not under judicial supervision", "pas sous contrôle judiciaire"),
    (r"under judicial supervision", "sous contrôle judiciaire"),
    (
        r"victim is not a \(former\) spouse, cohabitee or PACS partner",
        "la victime n'est pas un (ancien) conjoint, concubin ou partenaire de PACS",
    ),
    (r"victim is the (?P<w>[\w ()]+)", lambda m: f"la victime est {_WHERE.get(m['w'], m['w'])}"),
    (r"victim asked or expressly consents", "la victime l'a demandé ou y consent expressément"),
    (r"no consent of the victim", "pas de consentement de la victime"),
    (
        rf"aged (?P<n>\d+) on (?P<d>{_D}): not a personne majeure",
        "âgé de {n} ans le {d} : pas une personne majeure",
    ),
    (rf"aged (?P<n>\d+) on (?P<d>{_D})", "âgé de {n} ans le {d}"),
    (
        r"pre-alert distance 2 x (?P<a>[\d.]+) = (?P<b>[\d.]+) km",
        "distance de pré-alerte 2 x {a} = {b} km",
    ),
    (r"alert distance (?P<a>[\d.]+) km", "distance d'alerte {a} km"),
    (
        r"3° alert crossed voluntarily, or causing the victim to approach: breach",
        "3° alerte franchie volontairement, ou en amenant la victime à s'approcher : manquement",
    ),
    (
        r"4° the operator secures the protected person, alerts police/gendarmerie as needed",
        "4° l'opérateur met la personne protégée en sécurité, alerte police ou gendarmerie si besoin",
    ),
    (
        r"5° failure to keep the device charged: breach \(revocation, detention\)",
        "5° défaut de recharge du dispositif : manquement (révocation, détention)",
    ),
    (
        r"2° pre-alert: the operator calls the wearer; « en aucun cas » a revocation",
        "2° pré-alerte : l'opérateur appelle le porteur ; « en aucun cas » une révocation",
    ),
    (
        r"1° no fitting without consent; refusing it is a breach \(revocation, detention\)",
        "1° pas de pose sans consentement ; la refuser est un manquement (révocation, détention)",
    ),
    # DDSE
    (r"(?P<a>P\w+) (?P<op>[<>]=?) (?P<b>P\w+)", "{a} {op} {b}"),
    (
        r"(?P<a>P\w+) within the (?P<y>[\d.]+) y incurred",
        "{a} dans la limite des {y} an(s) encouru(s)",
    ),
    (r"(?P<a>P\w+) above the (?P<y>[\d.]+) y incurred", "{a} au-delà des {y} an(s) encouru(s)"),
    (
        rf"early end possible from (?P<d>{_D}) by a JAP ordonnance, on the 713-43 conditions",
        "fin anticipée possible à partir du {d} par ordonnance du JAP, aux conditions du 713-43",
    ),
    (
        rf"two years or less left from (?P<d>{_D}) \(term ends (?P<e>{_D})",
        "deux ans ou moins restants à partir du {d} (fin de peine le {e}",
    ),
    (r"not asked as a probation step", "non demandée comme mesure probatoire"),
    (
        r"as a probation step before parole: at most (?P<a>P\w+)",
        "comme mesure probatoire à la libération conditionnelle : au plus {a}",
    ),
    # PSEM
    (r"established by a medical expert", "établie par un expert médical"),
    (r"not established", "non établie"),
    (
        r"none of (?P<n>\d+) sentence\(s\) reaches 7 years, 5 in recidivism, or 2 under 131-36-12-1",
        "aucune des {n} peine(s) n'atteint 7 ans, 5 en récidive, ou 2 au titre du 131-36-12-1",
    ),
    (
        r"none of (?P<n>\d+) sentence\(s\) reaches 7 years, or 5 \(recidivism, 131-36-12-1\)",
        "aucune des {n} peine(s) n'atteint 7 ans, ou 5 (récidive, 131-36-12-1)",
    ),
    (r"qualifying sentence\(s\): (?P<q>P\w+(?:, P\w+)*)", "peine(s) retenue(s) : {q}"),
    (
        r"(?P<k>crime|délit): at most (?P<a>\d+) months, renewable (?P<n>\d+) time\(s\), (?P<m>\d+) months at most",
        "{k} : au plus {a} mois, renouvelable {n} fois, {m} mois au plus",
    ),
    (r"SSJ incurred or pronounced", "SSJ encouru ou prononcé"),
    (r"no suivi socio-judiciaire: no PSEM", "pas de suivi socio-judiciaire : pas de PSEM"),
    (
        rf"term ends (?P<e>{_D}): any renewal decided by (?P<d>{_D}), six months before",
        "la mesure prend fin le {e} : tout renouvellement décidé au plus tard le {d}, six mois avant",
    ),
    (r"no opinion of the commission", "pas d'avis de la commission"),
    (r"opinion given", "avis rendu"),
    (r"still detained", "toujours détenu"),
    (r"not detained", "non détenu"),
    (
        r"no 706-53-13 crime sentenced to 15 years or more",
        "aucun crime du 706-53-13 puni de 15 ans ou plus",
    ),
    # the sentence's arithmetic
    (
        r"(?P<n>\d+) day\(s\) under ARSE credited in full",
        "{n} jour(s) sous ARSE imputé(s) en totalité",
    ),
    (
        r"(?P<n>\d+) day\(s\) of pre-trial detention credited in full",
        "{n} jour(s) de détention provisoire imputé(s) en totalité",
    ),
    (rf"(?P<q>P\w+) from (?P<a>{_D}) to (?P<b>{_D})", "{q} du {a} au {b}"),
    (rf"all sentences end (?P<e>{_D})", "toutes les peines prennent fin le {e}"),
    (
        r"sentence\(s\) \[(?P<i>[\d, ]+)\] of one month counted as 30 days",
        "peine(s) [{i}] d'un mois comptée(s) pour 30 jours",
    ),
    (r"no sentence of exactly one month", "aucune peine d'exactement un mois"),
    (r"(?P<g>\d+) day\(s\) granted", "{g} jour(s) accordé(s)"),
    (
        r"ceiling (?P<c>\d+) day\(s\) \((?P<kind>\w+) on (?P<q>P\w+): (?P<m>\d+) m \+ (?P<dd>\d+) d\)",
        lambda m: (
            f"plafond de {m['c']} jour(s) ({_KIND.get(m['kind'], m['kind'])} sur {m['q']} : {m['m']} mois + {m['dd']} j)"
        ),
    ),
    (
        r"ceiling (?P<c>\d+) day\(s\) \(CRP (?P<a>\d+) m \+ (?P<b>\d+) d = (?P<t>\d+) d",
        "plafond de {c} jour(s) (CRP {a} mois + {b} j = {t} j",
    ),
    (
        r"reductions_days = CRP kept \+ RPS granted\)",
        "reductions_days = CRP conservé + RPS accordées)",
    ),
    (
        rf"placed sous écrou on (?P<d>{_D}), before 2023: CRP at écrou \+ RPS \(former 721, 721-1\)",
        "écroué le {d}, avant 2023 : CRP à l'écrou + RPS (anciens 721, 721-1)",
    ),
    (
        rf"placed sous écrou on (?P<d>{_D}): reductions granted by the judge \(721, 2023\)",
        "écroué le {d} : réductions accordées par le juge (721, 2023)",
    ),
    (rf"(?P<d>{_D}) is a jour ouvrable", "le {d} est un jour ouvrable"),
    (
        rf"(?P<d>{_D}) is a Sunday or public holiday: released on (?P<r>{_D})",
        "le {d} est un dimanche ou jour férié : libération le {r}",
    ),
    (
        r"no date-to-date count fell on a day missing from its month",
        "aucun décompte de date à date n'est tombé sur un jour absent du mois",
    ),
    (
        r"target day missing from its month; roll forward to the 1st of the next month \(end instant\)",
        "jour visé absent du mois ; report au 1er du mois suivant (instant de fin)",
    ),
    (
        r"(?P<a>\d+) d credited/reduced < (?P<b>\d+) d of sentence",
        "{a} j imputés ou réduits < {b} j de peine",
    ),
    (
        rf"(?P<a>\d+) d credited and (?P<r>\d+) d of reductions cover the (?P<b>\d+) d sentence: served, release on (?P<d>{_D})",
        "{a} j imputés et {r} j de réductions couvrent les {b} j de peine : exécutée, libération le {d}",
    ),
    (r"a single sentence; legal duration (?P<q>P\w+)", "une seule peine ; durée légale {q}"),
    (
        r"(?P<n>\d+) sentences; summed legal duration (?P<q>P\w+) \(order irrelevant\)",
        "{n} peines ; durée légale cumulée {q} (l'ordre est indifférent)",
    ),
    # shared tails
    (r"(?P<dir>forward|backward)", lambda m: _DIR[m["dir"]]),
    (r"then the business day before", "puis le jour ouvré précédent"),
    (r"no CPP 801", "pas de CPP 801"),
    (rf"by (?P<d>{_D})", "au plus tard le {d}"),
]
# Looked up by the renderers above when a note is translated: defined after them, so typed.
_DIR: dict[str, str] = {"forward": "en avant", "backward": "à rebours"}
_THEN: dict[str, str] = {"CPP 801": "CPP 801", "the business day before": "le jour ouvré précédent"}
_CREDIT: dict[str, str] = {
    "arse": "ARSE",
    "dp": "détention provisoire",
    "eaw": "mandat d'arrêt européen",
    "mandat": "mandat",
}
_CONSENT: dict[str, str] = {"given": "donné", "not given": "non donné", "not stated": "non indiqué"}
_KIND: dict[str, str] = {
    "reduction": "réduction",
    "terrorism": "terrorisme",
    "authority_delit": "délit contre une personne dépositaire de l'autorité",
    "authority_crime": "crime contre une personne dépositaire de l'autorité",
}

_COMPILED = [(re.compile(pattern), render) for pattern, render in _FRAGMENTS]
# What may stay between fragments: punctuation, numbers, dates, ISO durations, rule ids.
_GLUE = re.compile(
    r"(?:\s|[;:,.()\[\]+=<>/-]|\d{4}-\d{2}-\d{2}|P(?:\d+[YMWD])+|\d+|CPP|\x00\d+\x01)*"
)
_PUNCT = re.compile(r"\s*([;:])(?=\s)")
_SLOT = re.compile(r"\x00(\d+)\x01")


def _render(match: re.Match[str], render: Render) -> str:
    if callable(render):
        return render(match)
    return render.format(**match.groupdict())


def french(note: str) -> str | None:
    """The note in French, or None when some fragment of it is not in the catalogue."""
    slots: list[str] = []

    def keep(match: re.Match[str], render: Render) -> str:
        slots.append(_render(match, render))
        return f"\x00{len(slots) - 1}\x01"

    text = note
    for pattern, render in _COMPILED:
        text = pattern.sub(lambda m, r=render: keep(m, r), text)  # type: ignore[misc]
    if not _GLUE.fullmatch(text):
        return None
    text = _PUNCT.sub(r" \1", text)  # French spacing before ; and : between fragments
    return prose(_SLOT.sub(lambda m: slots[int(m[1])], text), "fr")


def _assumed(match: re.Match[str], lang: str) -> str:
    """An assumption (``trace.assume``) with its field named as the form names it, not by its
    key: « Non-lieu, relaxe ou acquittement définitif le » non fourni : aucune valeur retenue."""
    key, value = match["f"], match["v"]
    label = catalogue(lang).get(f"law.f.{key}", key)
    if lang != "fr":
        return f"“{label}” not given: {value} taken"
    if value == "none":
        return f"« {label} » non fourni : aucune valeur retenue"
    if value in _BOOL:
        return f"« {label} » non fourni : « {_BOOL[value]} » retenu"
    return f"« {label} » non fourni : {value} retenu"


# The English notes keep the engine's words but for the keys some of them name.
_ENGLISH: list[tuple[re.Pattern[str], Render]] = [
    (re.compile(_ASSUMED), lambda m: _assumed(m, "en")),
    (re.compile(r"no compensation_deadline without"), "no compensation deadline without"),
    (re.compile(r"no appeal_deadline without"), "no appeal deadline without"),
]


def note(text: str, lang: str) -> tuple[str, str]:
    """The note as shown in `lang`, with the language it is actually in (for `lang=`)."""
    if lang == "fr":
        translated = french(text)
        if translated is not None:
            return translated, "fr"
    for pattern, render in _ENGLISH:
        text = pattern.sub(lambda m, r=render: _render(m, r), text)  # type: ignore[misc]
    return prose(text, lang), "en"
