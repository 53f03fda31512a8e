"""Apex, run inside the simulated org: parse (lark, LALR), check, compile to Python code
objects once per deploy, and run on the org's async engine.

    org.apex.deploy("force-app/main/default/classes")
    result = org.apex.execute_anonymous("System.enqueueJob(new MyJob()); ")
    org.apex.run_until_idle()

(``org.apex`` is an :class:`ApexEngine`; the functions ``deploy(org, sources)`` and
``execute_anonymous(org, source)`` do the same.)

Supported (this foundation):

- classes (top-level and inner; public/private/global/with sharing/without sharing/
  virtual/abstract), interfaces, ``implements`` (Queueable, Database.Batchable<sObject>,
  Database.Stateful, Database.AllowsCallouts, Schedulable, user interfaces), ``extends``
  (user classes and ``Exception``), constructors with ``this(...)``/``super(...)``,
  static and instance fields, methods (overloads, also of the same arity), ``final``,
  auto-properties ``{ get; set; }``, enums; anonymous blocks with local classes;
- statements: if/else, for (classic, for-each, SOQL for-loop incl. the List form), while,
  do/while, switch on ... when (literals, enum values, else, sObject type), break,
  continue, return, try/catch/finally, throw, DML statements insert/update/upsert/delete;
- expressions with Apex precedence, ternary, ``?.``, ``??``, instanceof, casts, ``new``
  with collection initialisers, ``Type[]``, inline SOQL with binds (``:x``,
  ``:obj.method()``) and the Apex-only clauses stripped (WITH USER_MODE/SYSTEM_MODE/
  SECURITY_ENFORCED, FOR UPDATE/VIEW/REFERENCE; ALL ROWS is a queryAll);
- Apex semantics: case-insensitive names, ``==`` on Strings case-insensitive, Ids 15/18,
  32/64-bit wraparound, Decimal scale, null rules, uncaught exceptions with Apex types and
  messages, LimitException uncatchable, statics reset per transaction;
- library: see :mod:`.stdlib` (System, Database incl. countQuery and SaveResult/
  UpsertResult/DeleteResult as distinct types, Limits, OrgLimits, String, Integer/Long/
  Decimal/Double (``round``/``setScale`` with ``RoundingMode``), Math, Date/Datetime,
  Time, Blob, EncodingUtil (base64, hex, url), List/Set/Map, sObject get/put, field
  tokens such as ``Opportunity.External_ID__c``, Schema describe basics
  (``Schema.getGlobalDescribe``, ``Schema.SObjectType.X[.fields.F]``, ``X.SObjectType``,
  DescribeSObjectResult/DescribeFieldResult, ``Schema.DisplayType``), ``[SELECT ...].Field``
  on a one-row query, JSON (serialize/serializePretty with suppressApexObjectNulls,
  deserialize/deserializeStrict into classes, collections and sObjects, deserializeUntyped,
  JSONGenerator: see :mod:`.jsontyped`), System.Type (``MyClass.class``,
  ``List<MyClass>.class``, Type.forName, getName, newInstance), ``getSObjectType()`` as a
  Schema.SObjectType token, Id.valueOf, Http/HttpRequest/
  HttpResponse, Test.isRunningTest, UserInfo, Exception methods, Queueable/Batchable/
  Schedulable contexts).

Parsing: one flat grammar rule for every binary operator, turned into the precedence tree
by :class:`.parser._Shape` while lark's LALR parser runs, and positions from tokens
instead of ``propagate_positions`` (deploy time is mostly parsing).

Not supported (each is a compile error ``Not supported by sforg-sim: ...`` at its line and
column, never silently skipped): property accessors with bodies,
annotations other than @IsTest/@TestVisible/@SuppressWarnings/@Deprecated/@ReadOnly/
@TestSetup/@NamespaceAccessible/@future (so @AuraEnabled ...), ``%`` (Apex has none),
assignments and ``++`` used as values except on locals,
Limits.getHeapSize and the other Limits pairs the governor does not count (AggregateQueries,
QueryLocatorRows, ApexCursors), Math.random, System.runAs, describe methods
beyond the basics (picklist values, child relationships, field sets), Time.newInstance
outside a clock face (a run-time ``Not supported`` error), bind variables in dynamic
Database.query, Database.countQuery and Search.query, Search.find, List.sort of sObjects
(run time), triggers.
Session 5b: inline SOSL and Search.query (``stdlib.run_sosl``, 20 per transaction),
undelete/merge and Database.undelete/merge (``dml.Dml.undelete``/``merge``), methods
declared in an anonymous block (static methods of the block, ``api._anon_method``), the
line, column and stack of an uncatchable LimitException, the grammar's LALR tables cached
on disk (``parser._parser``), List.sort by the String class's case-sensitive order.
Apex CPU time: compiled code is charged its measured thread CPU time, SOQL/DML/callouts
excluded (:mod:`.runtime`); overloads of the same arity are chosen by static types
(:meth:`.compiler.Compiler.pick`); @future methods run as 'Future' jobs (:mod:`.jobs`);
JSONParser is in :mod:`.jsontyped`. System.schedule writes CronTrigger and
CronJobDetail rows and starts the schedule when its transaction commits (see
:mod:`sforg_sim.apex.engine`).
"""

from __future__ import annotations

from .api import (
    AnonymousResult,
    ApexEngine,
    ApexRuntime,
    CompileResult,
    deploy,
    execute_anonymous,
    runtime_for,
)
from .errors import ApexCompileError

__all__ = ["AnonymousResult", "ApexCompileError", "ApexEngine", "ApexRuntime", "CompileResult",
           "deploy", "execute_anonymous", "runtime_for"]
