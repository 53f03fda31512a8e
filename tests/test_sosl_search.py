"""SOSL: the parser (positions of malformed statements), the search-term language, the
engine's matching and result limits, and the Apex hook (``sosl.engine.search``).

Sources are cited in ``src/sforg_sim/sosl/*`` and docs/fidelity.md (section SOSL).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sforg_sim import Org
from sforg_sim.errors import InvalidField, InvalidType, MalformedSearch, UsageError
from sforg_sim.sosl.engine import distribute, search, search_body
from sforg_sim.sosl.parser import parse
from sforg_sim.sosl.terms import matches, parse_terms, tokens


@pytest.fixture
def org() -> Iterator[Org]:
    o = Org()
    o.insert("Account", [{"Name": "Acme Corp"}, {"Name": "Globex"},
                         {"Name": "acme.com Labs"}, {"Name": "Initech"}])
    o.insert("Contact", [
        {"FirstName": "Joe", "LastName": "Smith", "Email": "joe@acme.com",
         "Phone": "(415) 555-1212", "Title": "Buyer"},
        {"FirstName": "Joe", "LastName": "Smythe", "Title": "Acme liaison"},
        {"FirstName": "Mary", "LastName": "Jones", "Email": "mary@globex.com"},
    ])
    o.insert("Lead", [{"LastName": "Smith", "FirstName": "Joe", "Company": "Initech"}])
    yield o
    o.close()


def run(org: Org, sosl: str, **kw: Any) -> list[list[dict[str, Any]]]:
    with org.lock:
        return search(org.soql, org.schema, sosl, **kw)


def names(rows: list[dict[str, Any]], key: str = "Name") -> list[Any]:
    return [r[key] for r in rows]


def where(e: pytest.ExceptionInfo[Any]) -> tuple[int, int]:
    m = re.search(r"ERROR at Row:(\d+):Column:(\d+)", e.value.message)
    assert m is not None, e.value.message
    return int(m.group(1)), int(m.group(2))


# --- the parser: examples of the reference parse; malformed ones point at their place -----

REFERENCE_EXAMPLES = [
    # "Example Text Searches", "FIND {SearchQuery}" (Example FIND Clauses), "RETURNING
    # FieldSpec" (Example RETURNING Clauses), "LIMIT n", "OFFSET n", "ORDER BY Clause".
    "FIND {joe}",
    "FIND {Joe Smith}",
    "FIND {Joe Smith}\nIN Name Fields\nRETURNING lead",
    "FIND {Joe Smith}\nIN Name Fields\nRETURNING lead(name, phone)",
    "FIND {Joe Smith}\nIN Name Fields\nRETURNING lead (name, phone Where createddate = "
    "THIS_FISCAL_QUARTER)",
    'FIND {"Joe Smith" OR "Joe Smythe"}\nIN Name Fields\nRETURNING lead(name, phone), '
    "contact(name, phone)",
    "FIND {Joe Sm*}", "FIND {Joe Sm?th*}",
    'FIND {"and" or "or"}', 'FIND {"joe and mary"}', "FIND {in}", "FIND {returning}",
    "FIND {find}", "FIND {right brace \\}}", "FIND {asterisk \\*}", "FIND {question \\?}",
    "FIND {single quote \\'}", 'FIND {double quote \\"}',
    "FIND {MyProspect OR MyCompany}", 'FIND {MyProspect AND "John Smith" OR MyCompany}',
    'FIND {MyProspect AND ("John Smith" OR MyCompany)}', "FIND {MyProspect AND NOT MyCompany}",
    "FIND {My*}", "FIND {Why not\\?}", "FIND {mylogin@mycompany.com} IN EMAIL FIELDS",
    "FIND {MyProspect} RETURNING Contact, Lead",
    "FIND {MyProspect} RETURNING Contact(FirstName, LastName LIMIT 10), Account(Name)",
    "FIND {MyProspect} RETURNING Contact(FirstName, LastName LIMIT 20), Account(Name LIMIT "
    "10), Opportunity LIMIT 50",
    "FIND {MyProspect} RETURNING Contact(FirstName, LastName OFFSET 10)",
    "FIND {test} RETURNING Account(id), Contact LIMIT 20",
    "FIND {test} RETURNING Account(Name, Id ORDER BY Name LIMIT 100 OFFSET 100)",
    "FIND {MyAccountName} IN NAME FIELDS RETURNING Account(Name, Id ORDER BY Name DESC "
    "NULLS last)",
    "FIND {test} IN ALL FIELDS RETURNING Opportunity(Name WHERE Amount > USD5000)",
    "FIND {test} RETURNING Account(id WHERE (Name = 'New Account') or (Id = "
    "'001z00000008Vq7' and Name = 'Account Insert Test') or (AnnualRevenue < 100 or "
    "AnnualRevenue = null) ORDER BY AnnualRevenue)",
    "FIND {San Francisco} IN ALL FIELDS RETURNING Account WITH SPELL_CORRECTION = false",
]


@pytest.mark.parametrize("sosl", REFERENCE_EXAMPLES)
def test_reference_examples_parse(sosl: str) -> None:
    parse(sosl)


def test_clauses_are_kept() -> None:
    s = parse("FIND {test} IN NAME FIELDS RETURNING Account(Name, Id WHERE Name LIKE 'a%' "
              "ORDER BY Name DESC LIMIT 5), Contact LIMIT 9")
    assert s.scope == "NAME" and s.limit == 9
    acct, contact = s.returning
    text = s.text
    assert acct.fields is not None and acct.where is not None and acct.order is not None
    assert text[acct.fields.start:acct.fields.end] == "Name, Id"
    assert text[acct.where.start:acct.where.end] == "Name LIKE 'a%'"
    assert text[acct.order.start:acct.order.end] == "Name DESC"
    assert (acct.limit, acct.offset) == (5, None)
    assert parse("FIND {test} RETURNING Account(Name OFFSET 2)").returning[0].offset == 2
    assert contact.name == "Contact" and contact.fields is None


@pytest.mark.parametrize(("sosl", "pos", "detail"), [
    ("FIND {x1} IN ALL TYPE RETURNING Account", (1, 18), "Malformed search token: TYPE"),
    ("FIND test RETURNING Account", (1, 6), "No search term found"),
    ("FIND {ab-c}", (1, 9), "reserved character '-'"),
    ('FIND {"John Smith}', (1, 7), "incomplete phrase"),
    ("FIND {a}", (1, 7), "search term must be longer than one character"),
    ("FIND {ab} RETURNING Account(Name OFFSET 2001)", (1, 41), "between 0 to 2000"),
    ("FIND {ab} RETURNING Account(Name OFFSET 5), Contact", (1, 41), "single object"),
    ("FIND {ab} RETURNING Account, Contact, account", (1, 39), "duplicate"),
    ("FIND {ab} RETURNING Account(Name\nLIMIT", (2, 6), "<EOF>"),
    ("FIND {ab} RETURNING Account(WHERE Name = 'x')", (1, 29), "Malformed search token"),
    ("FIND {ab} IN SIDEBAR FIELDS", (1, 14), "SIDEBAR"),
    ("FIND {*ab}", (1, 7), "Wildcards are not allowed at the start"),
    ("FIND {ab AND}", (1, 13), "end of the search query"),
    ("FIND {ab OR OR cd}", (1, 13), "unexpected 'OR'"),
    ("FIND 'ab' RETURNING Account", (1, 6), "No search term found"),
])
def test_malformed_statements_point_at_the_problem(sosl: str, pos: tuple[int, int],
                                                   detail: str) -> None:
    with pytest.raises(MalformedSearch) as e:
        parse(sosl)
    assert e.value.error_code == "MALFORMED_SEARCH" and e.value.status == 400
    assert where(e) == pos
    assert detail in e.value.message


@pytest.mark.parametrize(("clause", "name"), [
    ("WITH SNIPPET(target_length=120)", "SNIPPET"),
    ("WITH HIGHLIGHT", "HIGHLIGHT"),
    ("WITH NETWORK = '0DB000000000001'", "NETWORK"),
    ("WITH DIVISION = 'Global'", "DIVISION"),
    ("WITH DATA CATEGORY Location__c AT America__c", "DATA CATEGORY"),
    ("WITH METADATA='LABELS'", "METADATA"),
    ("WITH PricebookId = '01sxx0000002MffAAE'", "PricebookId"),
    ("UPDATE TRACKING", "UPDATE TRACKING"),
    ("UPDATE VIEWSTAT", "VIEWSTAT"),
])
def test_unsupported_clauses_are_refused_by_name(clause: str, name: str) -> None:
    with pytest.raises(MalformedSearch, match=name):
        parse(f"FIND {{acme}} RETURNING Account(Name) {clause}")


def test_statement_length_limit() -> None:
    # "SOSL Syntax": over 100,000 characters the API returns MALFORMED_SEARCH.
    parse("FIND {acme} RETURNING Account(Name WHERE Name != '" + "x" * 99_900 + "')")
    with pytest.raises(MalformedSearch, match="100000"):
        parse("FIND {acme} RETURNING Account(Name WHERE Name != '" + "x" * 100_000 + "')")


def test_apex_forms_only_with_apex() -> None:
    assert parse("FIND 'map*' IN ALL FIELDS RETURNING Account(Id, Name)", apex=True).terms
    assert parse("FIND :term RETURNING Account", apex=True).term_bind == "term"
    with pytest.raises(MalformedSearch, match="braces"):
        parse("FIND :term RETURNING Account")
    with pytest.raises(MalformedSearch, match="only allowed in Apex"):
        parse("FIND {ab} RETURNING Account(Name LIMIT :n)")
    # "Invalid string literal ... Illegal character sequence '\?'" (a captured answer).
    with pytest.raises(MalformedSearch, match="Illegal character sequence"):
        parse("FIND 'company\\?' RETURNING Account", apex=True)


# --- the search-term language ------------------------------------------------------------


def _fail(off: int, detail: str) -> Exception:
    return MalformedSearch(f"{off}: {detail}")


def hit(query: str, *values: str) -> bool:
    expr = parse_terms(query, _fail)
    assert expr is not None
    return matches(expr, [tokens(v) for v in values])


def test_words_phrases_and_operators() -> None:
    assert hit("joe smith", "Smith, Joe")            # AND is the default operator
    assert not hit("joe smith", "Joe Jones")
    assert hit("joe OR mary", "Mary Jones")
    assert hit('"joe smith"', "Joe Smith")
    assert not hit('"joe smith"', "Smith Joe")       # a phrase keeps its order
    assert not hit('"joe smith"', "Joe", "Smith")    # ... within one field
    assert hit("joe smith", "Joe", "Smith")          # words may match different fields
    assert hit("john AND NOT smith", "John Jones")
    assert not hit("john AND NOT smith", "John Smith")
    assert hit('"and" or "or"', "this or that")      # quoted operators are words
    assert hit("CUSTOMER", "customer")               # case-insensitive


def test_and_not_is_evaluated_right_to_left() -> None:
    # "AND and AND NOT (evaluated from right to left)": a AND NOT b AND c is
    # a AND NOT (b AND c); left to right it would be (a AND NOT b) AND c.
    assert hit("alpha AND NOT beta AND gamma", "alpha beta")
    assert not hit("(alpha AND NOT beta) AND gamma", "alpha beta")
    assert hit("(alpha OR beta) AND gamma", "beta gamma")
    assert not hit("alpha OR beta AND gamma", "beta")  # AND binds tighter than OR


def test_wildcards() -> None:
    assert hit("john*", "Johnson") and hit("john*", "john")
    assert hit("mi* meyers", "Mike Meyers")
    assert hit("jo?n", "joan") and hit("jo?n", "John")
    assert not hit("jo?n", "jon") and not hit("jo?n", "johan")
    assert not hit("john", "Johnson")               # no wildcard: whole tokens
    assert hit("acme.com", "www.acme.com site")     # punctuation splits into a phrase


def test_long_search_queries() -> None:
    # "SearchQuery Character Limits": over 4,000 characters the operators are removed
    # (AND becomes OR); over 10,000 no rows come back.
    long_and = "alpha AND beta " + " ".join(["gamma"] * 800)
    assert len(long_and) > 4000
    assert hit(long_and, "alpha")                   # OR: one word is enough
    assert not hit("alpha AND beta " + " ".join(["gamma"] * 10), "alpha")
    assert parse_terms("ab " * 3400, _fail) is None


# --- the engine --------------------------------------------------------------------------


def test_returning_fields_where_order_and_ids_by_default(org: Org) -> None:
    (accts,) = run(org, "FIND {acme} RETURNING Account(Name ORDER BY Name DESC)")
    assert names(accts) == ["acme.com Labs", "Acme Corp"]
    assert set(accts[0]) == {"attributes", "Name"}
    assert accts[0]["attributes"]["type"] == "Account"
    (only_ids,) = run(org, "FIND {acme} RETURNING Account")
    assert {tuple(sorted(r)) for r in only_ids} == {("Id", "attributes")}
    (filtered,) = run(org, "FIND {acme} RETURNING Account(Name WHERE Name LIKE '%Corp')")
    assert names(filtered) == ["Acme Corp"]


def test_no_returning_searches_every_searchable_object(org: Org) -> None:
    body = search_body(org.soql, org.schema, "FIND {acme}")
    types = [r["attributes"]["type"] for r in body["searchRecords"]]
    assert types == ["Account", "Account", "Contact", "Contact"]
    assert all(set(r) == {"attributes", "Id"} for r in body["searchRecords"])


def test_search_groups(org: Org) -> None:
    # IN EMAIL FIELDS reads email fields only: "acme" is in Joe Smith's email and in
    # Joe Smythe's title.
    (by_email,) = run(org, "FIND {acme} IN EMAIL FIELDS RETURNING Contact(LastName)")
    assert names(by_email, "LastName") == ["Smith"]
    (everywhere,) = run(org, "FIND {acme} IN ALL FIELDS RETURNING Contact(LastName)")
    assert names(everywhere, "LastName") == ["Smith", "Smythe"]
    (by_phone,) = run(org, "FIND {555} IN PHONE FIELDS RETURNING Contact(LastName)")
    assert names(by_phone, "LastName") == ["Smith"]
    # IN NAME FIELDS: the name field plus Lead.Company ("IN SearchGroup").
    leads, contacts = run(org, "FIND {initech} IN NAME FIELDS RETURNING Lead(Company), "
                               "Contact")
    assert names(leads, "Company") == ["Initech"] and contacts == []
    assert run(org, "FIND {buyer} IN NAME FIELDS RETURNING Contact") == [[]]
    assert len(run(org, "FIND {buyer} RETURNING Contact")[0]) == 1


def test_errors_in_where_and_fields_point_into_the_sosl(org: Org) -> None:
    sosl = "FIND {acme}\nRETURNING Account(Name WHERE Nmae = 'x')"
    with pytest.raises(InvalidField) as e:
        run(org, sosl)
    assert where(e) == (2, 30) and "Nmae" in e.value.message
    with pytest.raises(MalformedSearch) as e2:
        run(org, "FIND {acme} RETURNING Account(Name WHERE Name = = 'x')")
    assert where(e2) == (1, 49)
    with pytest.raises(InvalidType, match="Acount"):
        run(org, "FIND {acme} RETURNING Acount(Name)")
    with pytest.raises(MalformedSearch, match=r"Aggregate functions.*COUNT"):
        run(org, "FIND {acme} RETURNING Account(COUNT(Id))")
    with pytest.raises(MalformedSearch, match="does not support search"):
        run(org, "FIND {acme} RETURNING AsyncApexJob")


def test_limits_and_offset(org: Org) -> None:
    (two,) = run(org, "FIND {acme OR globex} RETURNING Account(Name ORDER BY Name LIMIT 2)")
    assert names(two) == ["Acme Corp", "acme.com Labs"]
    (skipped,) = run(org, "FIND {acme OR globex} RETURNING Account(Name ORDER BY Name "
                          "LIMIT 2 OFFSET 1)")
    assert names(skipped) == ["acme.com Labs", "Globex"]
    assert run(org, "FIND {acme} RETURNING Account(Name LIMIT 0)") == [[]]


def test_overall_limit_is_shared_evenly() -> None:
    # "LIMIT n": 19 accounts and 35 contacts under LIMIT 20 give 10 and 10.
    assert distribute([19, 35], 20) == [10, 10]
    assert distribute([5, 35], 20) == [5, 15]
    assert distribute([3, 3, 3], 4) == [2, 1, 1]
    assert distribute([0, 7], 2000) == [0, 7]
    o = Org()
    o.insert("Account", [{"Name": f"Zeta {i}"} for i in range(19)])
    o.insert("Contact", [{"LastName": f"Zeta {i}"} for i in range(35)])
    accts, contacts = run(o, "FIND {zeta} RETURNING Account(Name), Contact(LastName) LIMIT 20")
    assert (len(accts), len(contacts)) == (10, 10)
    accts, contacts = run(o, "FIND {zeta} RETURNING Account(Name LIMIT 3), Contact(LastName)"
                             " LIMIT 20")
    assert (len(accts), len(contacts)) == (3, 17)
    o.close()


def test_result_caps_250_and_2000() -> None:
    # "SOSL Limits on Search Results": one object returns at most 250 records unless the
    # search has a WHERE or ORDER BY (then 2,000); n objects min(2,000/n, 250) each; the
    # statement's LIMIT is at most 2,000 ("LIMIT n").
    o = Org()
    o.insert("Account", [{"Name": f"Omega {i:04d}"} for i in range(2100)])
    o.insert("Contact", [{"LastName": f"Omega {i}"} for i in range(300)])
    assert len(run(o, "FIND {omega} RETURNING Account")[0]) == 250
    assert len(run(o, "FIND {omega} RETURNING Account(Name ORDER BY Name)")[0]) == 2000
    assert len(run(o, "FIND {omega} RETURNING Account(Name WHERE Name != null LIMIT 2100)"
                      )[0]) == 2000
    accts, contacts = run(o, "FIND {omega} RETURNING Account, Contact")
    assert (len(accts), len(contacts)) == (250, 250)
    o.close()


def test_apex_hook_binds_and_lists(org: Org) -> None:
    lists = run(org, "FIND :term IN ALL FIELDS RETURNING Account(Name ORDER BY Name LIMIT "
                     ":n), Contact(LastName WHERE FirstName = :first)",
                binds={"term": "acme", "n": 1, "first": "Joe"}, apex=True)
    assert [names(lists[0]), names(lists[1], "LastName")] == [["Acme Corp"],
                                                             ["Smith", "Smythe"]]
    with pytest.raises(MalformedSearch, match="RETURNING clause is required"):
        run(org, "FIND 'acme'", apex=True)
    with pytest.raises(UsageError, match=":term"):
        run(org, "FIND :term RETURNING Account", apex=True)


# --- the engine against a tiny reference matcher ------------------------------------------

WORDS = ["ab", "cd", "ef", "gh"]


def _reference(query: list[tuple[str, str]], name: str) -> bool:
    """The documented semantics on space-separated lower-case words: OR of ANDs."""
    toks = set(name.lower().split())
    groups: list[list[str]] = [[]]
    for i, (op, word) in enumerate(query):
        if op == "OR" and i:
            groups.append([])
        groups[-1].append(word)
    return any(all(w in toks for w in g) for g in groups)


@settings(max_examples=25, deadline=None)
@given(names_=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)
                       .map(" ".join), min_size=1, max_size=6),
       query=st.lists(st.tuples(st.sampled_from(["AND", "OR", ""]), st.sampled_from(WORDS)),
                      min_size=1, max_size=4))
def test_engine_agrees_with_a_reference_matcher(names_: list[str],
                                                query: list[tuple[str, str]]) -> None:
    text = " ".join(f"{op} {w}".strip() if i else w for i, (op, w) in enumerate(query))
    o = Org()
    try:
        o.insert("Account", [{"Name": n} for n in names_])
        (rows,) = run(o, f"FIND {{{text}}} RETURNING Account(Name ORDER BY Name)")
        want = sorted((n for n in names_ if _reference(query, n)), key=str.upper)
        assert sorted(names(rows), key=str.upper) == want
    finally:
        o.close()
