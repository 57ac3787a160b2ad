#!/usr/bin/env python3
"""Writes knowledge/value-sets/published.toml from the published value sets in ../shared/reference/value-sets/.

It also writes the `observations` prefetch of cds-services.json from the knowledge (every LOINC code the labs,
the blood pressure panels and the duplex study rows list), so the two cannot drift.

Each selection below says which published set (VSAC expansion from the CMS eCQM content) serves which of our
concepts, medication classes or laboratory kinds, and which of its codes are left out and why (knowledge/README.md,
"Published value sets"). The output keeps each set's OID, version and source commit with its codes.

    python3 knowledge/value-sets/generate.py           rewrite the file
    python3 knowledge/value-sets/generate.py --check   fail when the file differs from what would be written

Python 3.11 standard library only. The value-set directory can be given with --from (default: ../shared/
reference/value-sets relative to the repository root, where CI keeps ../shared beside the clone).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "knowledge" / "value-sets" / "published.toml"
DISCOVERY = ROOT / "cds-services.json"
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "value-sets"

SYSTEMS = {
    "http://hl7.org/fhir/sid/icd-10-cm": "icd-10-cm",
    "http://snomed.info/sct": "snomed",
    "http://loinc.org": "loinc",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
}

# The source id (knowledge/sources.toml) of each repository the files were copied from.
REPOSITORY_SOURCES = {
    "https://github.com/cqframework/ecqm-content-qicore-2024": "S7",
    "https://github.com/cqframework/ecqm-content-qicore-2022": "VSAC-Q22",
    "https://github.com/cqframework/ecqm-content-r4": "VSAC-R4",
}

Keep = Callable[[str, str, str], bool]


def everything(_system: str, _code: str, _display: str) -> bool:
    return True


def icd_prefix(*prefixes: str) -> Keep:
    """ICD-10-CM codes starting with one of the prefixes (dot ignored)."""
    wanted = tuple(p.replace(".", "") for p in prefixes)
    return lambda system, code, _display: system == "icd-10-cm" and code.replace(".", "").startswith(wanted)


def display_has(*words: str) -> Keep:
    lowered = tuple(w.lower() for w in words)
    return lambda _system, _code, display: any(w in display.lower() for w in lowered)


def all_of(*keeps: Keep) -> Keep:
    return lambda s, c, d: all(k(s, c, d) for k in keeps)


def any_of(*keeps: Keep) -> Keep:
    return lambda s, c, d: any(k(s, c, d) for k in keeps)


def none_of(*keeps: Keep) -> Keep:
    return lambda s, c, d: not any(k(s, c, d) for k in keeps)


def codes_in_display(*displays: str) -> Keep:
    wanted = set(displays)
    return lambda _system, _code, display: display in wanted


def codes_in(*codes: str) -> Keep:
    wanted = set(codes)
    return lambda _system, code, _display: code in wanted


# Venous thromboembolism codes that do not say the leg, pelvis or inferior vena cava (other or unspecified
# veins, thoracic veins, the vena cava without saying which, superficial or unspecified-depth phlebitis) or
# that are pulmonary: not a DVT for this service.
VTE_NOT_LEG_DVT = (
    "I80.3", "I80.9", "I82.290", "I82.890", "I82.90",
    "16750002", "234049002", "429098002", "312584000", "195437003", "50817002", "83938003",
    "312588002", "46253008", "77892009",
)
PULMONARY = any_of(icd_prefix("I26"), all_of(lambda s, _c, _d: s == "snomed", display_has("pulmonary", "lung")))

# Basal and squamous cell carcinoma of the skin (ICD-10-CM C44.x1, C44.x2 and the rest of C44, non-melanoma skin
# cancer) and neoplasms of uncertain or unspecified behaviour (D37-D49) are not "active cancer" for VTE risk.
SKIN_OR_UNCERTAIN = any_of(
    icd_prefix("C44", *[f"D{n}" for n in range(37, 50)]),
    all_of(
        lambda s, _c, _d: s == "snomed",
        any_of(
            display_has("basal cell carcinoma", "basal cell epithelioma", "rodent ulcer"),
            all_of(display_has("squamous cell carcinoma"), display_has("skin")),
        ),
    ),
)

HEPARIN_WORDS = ("heparin", "enoxaparin", "dalteparin", "tinzaparin", "lovenox", "fragmin")
# Warfarin (a vitamin K antagonist) and the direct oral anticoagulants, by ingredient and brand: the groups
# drug-specific safety rules name (oral anticoagulants are avoided in pregnancy).
VKA_WORDS = ("warfarin", "coumadin", "jantoven")
DOAC_WORDS = ("apixaban", "rivaroxaban", "dabigatran", "edoxaban", "betrixaban", "eliquis", "xarelto", "pradaxa",
              "savaysa", "bevyxxa")


@dataclass
class Selection:
    target: str  # concept | medication | lab
    id: str
    file: str
    why: str
    keep: Keep = everything
    # medication only: codes whose display names a heparin, warfarin or a DOAC are marked with their group
    heparins: bool = False
    extra: dict[str, str] = field(default_factory=dict)


SELECTIONS: list[Selection] = [
    # --- VTE
    Selection("concept", "dvt", "venous-thromboembolism.tsv",
              "Deep vein thrombosis of the leg, pelvis or inferior vena cava; pulmonary embolism and codes that do "
              "not name these veins are left out (pulmonary embolism is its own concept, for the IVC filter topic)",
              none_of(PULMONARY, codes_in(*VTE_NOT_LEG_DVT))),
    Selection("concept", "dvt", "vte-in-pregnancy.tsv",
              "Deep phlebothrombosis in pregnancy (O22.3x) only; cerebral venous thrombosis and other venous "
              "complications of pregnancy are not a leg DVT",
              icd_prefix("O22.3")),
    Selection("concept", "pulmonary-embolism", "venous-thromboembolism.tsv",
              "The pulmonary embolism codes of the VTE set (ICD-10-CM I26.x, SNOMED CT pulmonary concepts) except "
              "pulmonary venous thrombosis",
              all_of(PULMONARY, none_of(codes_in("77892009")))),
    Selection("concept", "pulmonary-embolism", "air-and-thrombotic-embolism.tsv",
              "Pulmonary embolism I26.x and obstetric thromboembolism O88.2x; air, amniotic fluid and septic "
              "embolism are not venous thromboembolism",
              icd_prefix("I26", "O88.2")),
    # --- pregnancy
    Selection("concept", "pregnancy", "pregnancy.tsv",
              "Current pregnancy: the ICD-10-CM O codes of pregnancy (antepartum) and SNOMED CT pregnancy findings",
              ),
    Selection("concept", "pregnancy", "pregnant-state.tsv", "Pregnant state (Z33.1, Z33.3, pregnant woman)"),
    Selection("lab", "hcg", "pregnancy-test.tsv",
              "Qualitative pregnancy tests only ([Presence]); quantitative hCG is read through its interpretation",
              display_has("[presence]", "[interpretation]")),
    # --- cancer
    Selection("concept", "active-cancer", "cancer.tsv",
              "Malignant neoplasms without non-melanoma skin cancer (C44, SNOMED CT basal and squamous cell "
              "carcinoma of skin) and without neoplasms of uncertain or unspecified behaviour (D37-D49)",
              none_of(SKIN_OR_UNCERTAIN)),
    # --- intracranial
    Selection("concept", "intracranial-hemorrhage", "hemorrhagic-stroke.tsv",
              "Nontraumatic subarachnoid and intracerebral haemorrhage"),
    Selection("concept", "intracranial-hemorrhage", "active-bleeding.tsv",
              "Nontraumatic intracranial haemorrhage I60-I62 (subdural I62.0x, extradural I62.1) and traumatic "
              "intracranial haemorrhage S06.34-S06.6x",
              icd_prefix("I60", "I61", "I62", "S06.34", "S06.35", "S06.36", "S06.37", "S06.38", "S06.4", "S06.5",
                         "S06.6")),
    Selection("concept", "intracranial-hemorrhage", "stroke.tsv",
              "Sequelae of subarachnoid, intracerebral and other nontraumatic intracranial haemorrhage "
              "(I69.0-I69.2): a prior intracranial haemorrhage",
              icd_prefix("I69.0", "I69.1", "I69.2")),
    Selection("concept", "ischemic-stroke", "ischemic-stroke.tsv", "Ischaemic stroke (cerebral infarction)"),
    Selection("concept", "tia", "stroke.tsv", "Transient cerebral ischaemic attacks G45.0-G45.2",
              icd_prefix("G45")),
    Selection("concept", "tia", "cerebrovascular-disease-stroke-or-tia.tsv",
              "Transient cerebral ischaemic attacks G45.x except transient global amnesia (G45.4)",
              all_of(icd_prefix("G45"), none_of(icd_prefix("G45.4")))),
    Selection("concept", "stroke-history", "stroke.tsv",
              "Sequelae of cerebral infarction (I69.3x): an ischaemic stroke in the past", icd_prefix("I69.3")),
    Selection("concept", "stroke-history", "cerebrovascular-disease-stroke-or-tia.tsv",
              "Personal history of TIA and cerebral infarction without residual deficits (Z86.73)",
              icd_prefix("Z86.73")),
    Selection("concept", "intracranial-lesion", "cerebral-vascular-lesion.tsv",
              "Structural cerebral vascular lesion (AVM, intracranial haemangioma) and intracranial neoplasms; the set's "
              "ICD-10-CM codes for neoplasms elsewhere (lymphomas, head and neck, ill-defined or unspecified sites, "
              "myelodysplasia) and its SNOMED CT concepts too broad to say intracranial (neoplasm of head, CNS "
              "disorder or finding, mass of head, neoplastic disease) are left out",
              any_of(
                  icd_prefix("Q28.0", "Q28.2", "C70", "C71", "C79.31", "C79.32", "D18.02", "D32", "D33", "D42", "D43",
                             "D49.6"),
                  all_of(lambda s, _c, _d: s == "snomed", none_of(codes_in_display(
                      "Neoplasm of head (disorder)", "Disorder of the central nervous system (disorder)",
                      "Central nervous system finding (finding)", "Neoplasm of head AND/OR neck (disorder)",
                      "Mass of head and/or neck (finding)", "Mass of head (finding)", "Neoplastic disease (disorder)",
                  ))),
              )),
    Selection("concept", "intracranial-lesion", "malignant-intracranial-neoplasm-group.tsv",
              "Malignant intracranial neoplasm, primary or secondary; a personal history (Z85.841) is not a lesion",
              none_of(icd_prefix("Z85"))),
    Selection("concept", "structural-cerebral-lesion", "malignant-intracranial-neoplasm-group.tsv",
              "Malignant intracranial neoplasm, primary or secondary (ACC/AHA: absolute); a personal history "
              "(Z85.841) is not a lesion",
              none_of(icd_prefix("Z85"))),
    Selection("concept", "structural-cerebral-lesion", "cerebral-vascular-lesion.tsv",
              "Arteriovenous malformations of cerebral and precerebral vessels (ACC/AHA: structural cerebral vascular "
              "lesion, absolute)",
              any_of(icd_prefix("Q28.0", "Q28.2"), all_of(lambda s, _c, _d: s == "snomed",
                                                         display_has("arteriovenous malformation")))),
    Selection("concept", "head-trauma", "closed-head-and-facial-trauma.tsv",
              "Significant closed head or facial trauma, intracranial injury included"),
    Selection("concept", "seizure-disorder", "epilepsy.tsv", "Epilepsy (G40.x)"),
    Selection("concept", "seizure-disorder", "seizure-disorder.tsv", "Seizure disorder (ICD-10-CM and SNOMED CT)"),
    # --- bleeding
    Selection("concept", "active-bleeding", "active-bleeding.tsv",
              "Active bleeding excluding menses or bleeding diathesis, as published"),
    Selection("concept", "peptic-ulcer", "acute-peptic-ulcer.tsv", "Acute peptic ulcer (ACC/AHA: active peptic ulcer)"),
    Selection("concept", "bleeding-diathesis", "bleeding-disorder.tsv",
              "Bleeding disorders; the thrombophilias (D68.5x, D68.6x, which clot rather than bleed) and the "
              "thrombocytopenias (D69.3-D69.6, the concept thrombocytopenia) are left out",
              none_of(icd_prefix("D68.5", "D68.6", "D69.3", "D69.4", "D69.5", "D69.6"))),
    Selection("concept", "thrombocytopenia", "bleeding-disorder.tsv",
              "Thrombocytopenias D69.3-D69.6", icd_prefix("D69.3", "D69.4", "D69.5", "D69.6")),
    Selection("concept", "dic", "disseminated-intravascular-coagulation.tsv",
              "D65 and the obstetric codes that name disseminated intravascular coagulation; unspecified "
              "coagulation defects (D68.8, D68.9) are not DIC",
              any_of(icd_prefix("D65"), display_has("disseminated intravascular"))),
    Selection("concept", "aortic-dissection", "aortic-dissection-or-ruptured-aortic-aneurysm.tsv",
              "Dissection of the aorta; ruptured aneurysms without dissection are left out", display_has("dissection")),
    # --- organs
    Selection("concept", "severe-liver-disease", "liver-disease-moderate-to-severe.tsv",
              "Moderate to severe liver disease (SIR: severe hepatic dysfunction)"),
    Selection("concept", "end-stage-renal-disease", "end-stage-renal-disease.tsv", "End stage renal disease"),
    Selection("concept", "end-stage-renal-disease", "chronic-kidney-disease-stage-5.tsv",
              "Chronic kidney disease stage 5 (eGFR below 15: renal failure)"),
    Selection("concept", "long-term-anticoagulant-use", "long-term-anticoagulant-use.tsv", "Z79.01"),
    # --- medications
    Selection("medication", "anticoagulant", "anticoagulant-therapy.tsv",
              "Current anticoagulant products (SCD, GPCK)", heparins=True),
    Selection("medication", "anticoagulant", "anticoagulants-for-all-indications.tsv",
              "Anticoagulant products for all indications", heparins=True),
    Selection("medication", "anticoagulant", "oral-anticoagulant-medications.tsv", "Oral anticoagulants",
              heparins=True),
    Selection("medication", "anticoagulant", "oral-anticoagulant-medications-2022-branded.tsv",
              "The 2022 version of the oral anticoagulant set, which still lists ingredients, brand names and "
              "branded products (Eliquis, Xarelto, Pradaxa, Savaysa, Coumadin, Jantoven, Lovenox, Fragmin)",
              heparins=True),
    Selection("medication", "anticoagulant", "warfarin.tsv", "Warfarin products", heparins=True),
    Selection("medication", "anticoagulant", "direct-thrombin-inhibitor.tsv", "Direct thrombin inhibitors",
              heparins=True),
    Selection("medication", "anticoagulant", "lmwh-for-vte-prophylaxis.tsv", "Low molecular weight heparins",
              heparins=True),
    Selection("medication", "anticoagulant", "low-dose-ufh-for-vte-prophylaxis.tsv", "Unfractionated heparin",
              heparins=True),
    Selection("medication", "anticoagulant", "unfractionated-heparin.tsv", "Unfractionated heparin bags",
              heparins=True),
    Selection("medication", "anticoagulant", "injectable-factor-xa-inhibitor-for-vte-prophylaxis.tsv",
              "Fondaparinux", heparins=True),
    Selection("medication", "anticoagulant", "oral-factor-xa-inhibitor-for-vte.tsv", "Apixaban and edoxaban",
              heparins=True),
    Selection("medication", "anticoagulant", "rivaroxaban-for-vte-prophylaxis.tsv", "Rivaroxaban", heparins=True),
    Selection("medication", "antiplatelet", "antithrombotic-therapy-for-ischemic-stroke.tsv",
              "The antiplatelet products of the set (aspirin, clopidogrel, prasugrel, ticagrelor, dipyridamole, "
              "ticlopidine, cilostazol, vorapaxar); its anticoagulants are in the anticoagulant class",
              display_has("aspirin", "clopidogrel", "prasugrel", "ticagrelor", "dipyridamole", "ticlopidine",
                          "cilostazol", "vorapaxar")),
    Selection("medication", "thrombolytic", "thrombolytic-medications.tsv", "Thrombolytic ingredients"),
    Selection("medication", "thrombolytic", "fibrinolytic-therapy.tsv", "Fibrinolytic products"),
    Selection("medication", "thrombolytic", "fibrinolytic-therapy-2019-branded.tsv",
              "The 2019 version of the fibrinolytic set with ingredients, brands and branded products"),
    Selection("medication", "thrombolytic", "thrombolytic-tpa-therapy.tsv", "tPA products"),
    # --- laboratory
    Selection("lab", "platelets", "platelet-count-lab-test.tsv", "Platelet count"),
    Selection("lab", "inr", "inr.tsv", "INR"),
    Selection("lab", "egfr", "estimated-glomerular-filtration-rate.tsv", "Estimated GFR"),
    Selection("lab", "creatinine", "creatinine-lab-test.tsv", "Creatinine, mass and molar (units convert)"),
    Selection("lab", "hemoglobin", "hemoglobin-lab-test.tsv", "Haemoglobin"),
    Selection("lab", "systolic-bp", "systolic-blood-pressure.tsv", "Systolic blood pressure"),
]


@dataclass
class ValueSet:
    header: dict[str, str]
    codes: list[tuple[str, str, str]]


def read_tsv(path: Path) -> ValueSet:
    header: dict[str, str] = {}
    codes: list[tuple[str, str, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition(":")
            header.setdefault(key.strip(), value.strip())
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise SystemExit(f"{path}:{number}: expected system<TAB>code<TAB>display")
        system, code, display = parts
        if system not in SYSTEMS:
            raise SystemExit(f"{path}:{number}: code system {system} is not one the service reads")
        codes.append((SYSTEMS[system], code, display))
    for key in ("title", "oid", "version", "source_repository", "source_commit", "source_path"):
        if key not in header:
            raise SystemExit(f"{path}: header has no `{key}`")
    return ValueSet(header, codes)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(source_dir: Path) -> str:
    out = [
        "# GENERATED by knowledge/value-sets/generate.py from ../shared/reference/value-sets/: do not edit by hand.",
        "# Each [[value_set]] is one published value set (OID, version, source commit) and the codes of it that",
        "# serve one of our concepts, medication classes or laboratory kinds; `selection` says which and why.",
        "# Codes are [system, code, display] exactly as published.",
        "",
    ]
    for selection in SELECTIONS:
        value_set = read_tsv(source_dir / selection.file)
        header = value_set.header
        repository = header["source_repository"]
        if repository not in REPOSITORY_SOURCES:
            raise SystemExit(f"{selection.file}: unknown source repository {repository}")
        kept = [c for c in value_set.codes if selection.keep(*c)]
        if not kept:
            raise SystemExit(f"{selection.file}: the selection for {selection.id} keeps no code")
        commit = header["source_commit"].split()[0]
        out += [
            "[[value_set]]",
            f"target = {quote(selection.target)}",
            f"id = {quote(selection.id)}",
            f"file = {quote(selection.file)}",
            f"title = {quote(header['title'])}",
            f"oid = {quote(header['oid'])}",
            f"version = {quote(header['version'])}",
            f"repository = {quote(repository)}",
            f"commit = {quote(commit)}",
            f"path = {quote(header['source_path'])}",
            f"source = {quote(REPOSITORY_SOURCES[repository])}",
            f"selection = {quote(selection.why)}",
            f"published = {len(value_set.codes)}",
        ]
        if selection.heparins:
            for key, words in (("heparins", HEPARIN_WORDS), ("vkas", VKA_WORDS), ("doacs", DOAC_WORDS)):
                group = [code for _, code, display in kept if any(w in display.lower() for w in words)]
                out.append(f"{key} = [" + ", ".join(quote(c) for c in group) + "]")
        out.append("codes = [")
        out += [f"  [{quote(s)}, {quote(c)}, {quote(d)}]," for s, c, d in kept]
        out += ["]", ""]
    return "\n".join(out)


def observation_codes(published: str) -> list[str]:
    """Every LOINC code an Observation we read may carry (as KnowledgeBase::observation_codes): the labs, published
    and hand-made, the blood pressure panels and the venous duplex study codes."""
    knowledge = ROOT / "knowledge"
    labs = tomllib.loads((knowledge / "labs.toml").read_text(encoding="utf-8"))
    procedures = tomllib.loads((knowledge / "procedures.toml").read_text(encoding="utf-8"))
    codes = {code["code"] for lab in labs["lab"] for code in lab.get("codes", [])}
    codes |= {c for v in tomllib.loads(published)["value_set"] if v["target"] == "lab" for _, c, _ in v["codes"]}
    codes |= {panel["code"] for panel in labs["panel"]["blood_pressure"]}
    codes |= {
        code["code"]
        for procedure in procedures["procedure"]
        if procedure["id"] == "us-duplex"
        for code in procedure.get("codes", [])
        if code["system"] == "loinc"
    }
    return sorted(codes)


def render_discovery(published: str) -> str:
    """cds-services.json with its `observations` prefetch asking for exactly the codes the knowledge reads."""
    query = ",".join(f"http://loinc.org|{code}" for code in observation_codes(published))
    text = DISCOVERY.read_text(encoding="utf-8")
    pattern = re.compile(r'("observations": "Observation\?patient=\{\{context\.patientId\}\}&code=)[^&"]*')
    if not pattern.search(text):
        raise SystemExit("cds-services.json has no observations prefetch to write")
    return pattern.sub(lambda m: m.group(1) + query, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when published.toml is not what would be written")
    parser.add_argument("--from", dest="source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    if not args.source.is_dir():
        print(f"value sets not found at {args.source}", file=sys.stderr)
        return 2
    text = render(args.source)
    outputs = [(OUTPUT, text), (DISCOVERY, render_discovery(text))]
    if args.check:
        stale = [path for path, wanted in outputs if not path.exists() or path.read_text(encoding="utf-8") != wanted]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run python3 knowledge/value-sets/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for path, wanted in outputs:
        path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
