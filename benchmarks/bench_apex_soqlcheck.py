"""Deploy time with inline SOQL/SOSL checked at compile time (issue 15, session 5d).

``bench_apex.py`` deploys 10 classes of about 300 lines without a query. This one deploys
10 classes of the same size whose 28 methods each hold two inline SOQL statements and
one SOSL statement (a mix of statements shared between classes, which the SOQL plan cache
compiles once, and statements distinct per class and method), so it prices the compile-time
query check (:meth:`sforg_sim.apexlang.compiler.Compiler._check_soql`).

    .venv/bin/python benchmarks/bench_apex_soqlcheck.py
"""

from __future__ import annotations

import time

from sforg_sim import Org
from sforg_sim.apexlang import deploy
from sforg_sim.apexlang.parser import parse_class


def _class(i: int) -> str:
    methods = []
    for m in range(28):
        methods.append(f"""    public Integer work{m}(String n, Set<Id> ids) {{
        Integer total = 0;
        List<Account> accs = [SELECT Id, Name, (SELECT Id, LastName FROM Contacts)
                              FROM Account WHERE Name = :n AND Id IN :ids LIMIT {m + 1}];
        for (Opportunity o : [SELECT Id, StageName, Account.Name FROM Opportunity
                              WHERE StageName != 'Closed Won' AND Amount > {i * 100 + m}
                              ORDER BY CreatedDate DESC]) {{
            total += 1;
        }}
        List<List<SObject>> found = [FIND :n IN NAME FIELDS
                                     RETURNING Account(Name WHERE Id IN :ids), Contact];
        return total + accs.size() + found.size();
    }}""")
    return f"public class Bench{i} {{\n    public Integer field = {i};\n" + \
        "\n".join(methods) + "\n}\n"


def bench_deploy(repeat: int = 3) -> None:
    """Best of ``repeat`` deploys, each to a fresh org (so each starts with an empty SOQL
    plan cache, as a first deploy does)."""
    sources = {f"Bench{i}": _class(i) for i in range(10)}
    lines = sum(s.count("\n") for s in sources.values())
    took = []
    for _ in range(repeat):
        org = Org()
        t = time.perf_counter()
        results = deploy(org, sources)
        took.append(time.perf_counter() - t)
        assert all(r.success for r in results), [r for r in results if not r.success]
    t = time.perf_counter()
    for src in sources.values():
        parse_class(src)
    parse = time.perf_counter() - t
    print(f"deploy with inline SOQL/SOSL: 10 classes, {lines:,} lines, 560 queries and 280 "
          f"searches: best {min(took) * 1000:.0f} ms of {repeat} "
          f"(parsing alone: {parse * 1000:.0f} ms); SOQL compiles in the last deploy: "
          f"{org.soql.compiles}")


if __name__ == "__main__":
    bench_deploy()
