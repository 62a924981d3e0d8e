"""The installation SQL of event triggers, referenced by migrations (keep it backward compatible).

django-pgtrigger's template asks ``_pgtrigger_should_ignore()`` on every call, which opens a
subtransaction (an exception block). Event triggers run on every write, so they check
``pgtrigger.ignore`` with ``current_setting(name, true)`` instead: ``pgtrigger.ignore()`` keeps
working, without the per-call subtransaction.
"""

from __future__ import annotations

from pgtrigger import compiler


class EventTriggerSql(compiler.UpsertTriggerSql):
    """Version 1 of the event trigger template."""

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    IF TG_NAME = ANY(COALESCE(
                        NULLIF(current_setting('pgtrigger.ignore', true), ''), '{{}}'
                    )::name[]) THEN
                        RETURN NULL;
                    END IF;
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class HashJoinEventTriggerSql(EventTriggerSql):
    """Version 1 of the template of statement-level UPDATE triggers.

    Their INSERT joins the old and new transition tables on the primary key. PL/pgSQL caches the
    plan of that query the first time it runs in a session, sized for that statement's row
    count: after a single-row UPDATE the cached plan is a nested loop, which turns a later
    20,000-row UPDATE into 400 million comparisons (seconds to minutes). Without nested loops
    the plan is a hash join whatever size it was planned for.
    """

    def get_template(self) -> str:
        return (
            super()
            .get_template()
            .replace("$$ LANGUAGE plpgsql;", "$$ LANGUAGE plpgsql SET enable_nestloop = off;")
        )


class GenericPlanEventTriggerSql(EventTriggerSql):
    """Version 2 of the template of statement-level INSERT and DELETE event triggers.

    The trigger's variables (label, context) are parameters of its ``INSERT … SELECT``, so
    PL/pgSQL's plan cache plans the query again on every call for as long as a custom plan
    looks cheaper than the generic one, which it keeps doing for a query over transition
    tables: about 50 µs of the ~75 µs a single-row statement paid for its trigger (measured in
    CPU time on the bench's item table). ``force_generic_plan`` plans it once per session. A
    generic plan is sized for the first statement's row count, so these settings go only where
    the plan is the same at any size (a scan of one transition table, or hash joins).
    """

    #: ``SET`` clauses of the trigger function.
    settings: tuple[str, ...] = ("plan_cache_mode = force_generic_plan",)

    def get_template(self) -> str:
        clauses = " ".join(f"SET {setting}" for setting in self.settings)
        return (
            super()
            .get_template()
            .replace("$$ LANGUAGE plpgsql;", f"$$ LANGUAGE plpgsql {clauses};")
        )


class GenericPlanHashJoinEventTriggerSql(GenericPlanEventTriggerSql):
    """Version 2 of the template of statement-level UPDATE event triggers.

    One generic plan per session (``GenericPlanEventTriggerSql``) whose joins (old and new rows
    on the primary key, parent tables) are hash joins whatever row count it was planned for: a
    nested loop planned for one row costs quadratic time on a bulk update (see
    ``HashJoinEventTriggerSql``), a merge join sorts both sides.
    """

    settings = (
        "enable_nestloop = off",
        "enable_mergejoin = off",
        "plan_cache_mode = force_generic_plan",
    )


class HashChainTriggerSql(EventTriggerSql):
    """Version 1 of the hash chain trigger template (a BEFORE trigger: ignoring it returns NEW,
    since NULL would drop the event)."""

    def get_template(self) -> str:
        return super().get_template().replace("RETURN NULL;", "RETURN NEW;", 1)


# Whether this trigger is asked to step aside (``pgtrigger.ignore``) by a role that could disable
# it anyway: the owner of the table (or a member of the owner's role) or a superuser, both as the
# current user and as the role that logged in. The login role is checked too because a cascade of
# a foreign key, or a SECURITY DEFINER function of the owner, runs as the owner on behalf of any
# session. Everything is qualified with pg_catalog: a session that may create objects somewhere
# could otherwise shadow a function or an operator through its search_path.
OWNER_MAY_IGNORE = """
    TG_NAME OPERATOR(pg_catalog.=) ANY (
        pg_catalog.current_setting('pgtrigger.ignore', true)::pg_catalog.name[]
    ) AND EXISTS (
        SELECT FROM pg_catalog.pg_class AS _pgh_table
        WHERE _pgh_table.oid OPERATOR(pg_catalog.=) TG_RELID
        AND pg_catalog.pg_has_role(CURRENT_USER, _pgh_table.relowner, 'USAGE')
        AND pg_catalog.pg_has_role(SESSION_USER, _pgh_table.relowner, 'MEMBER')
    )"""
# Tested first, alone: a simple expression PL/pgSQL evaluates without the executor, so a write
# that asks nothing pays no catalog lookup.
IGNORE_REQUESTED = (
    "COALESCE(pg_catalog.current_setting('pgtrigger.ignore', true), '') OPERATOR(pg_catalog.<>) ''"
)


class OwnerBypassTriggerSql(compiler.UpsertTriggerSql):
    """Version 1 of the template of the triggers guarding history (append-only, hash chain,
    context): ``pgtrigger.ignore`` is honoured only for the table's owner (``OWNER_MAY_IGNORE``),
    never for a role that merely may write. Ignored, a row trigger lets the row through."""

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    IF _REQUESTED_ THEN
                        IF _MAY_IGNORE_ THEN
                            IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
                                RETURN OLD;
                            END IF;
                            RETURN NEW;
                        END IF;
                    END IF;
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """.replace("_REQUESTED_", IGNORE_REQUESTED).replace(
            "_MAY_IGNORE_", OWNER_MAY_IGNORE.replace("{", "{{").replace("}", "}}")
        )
