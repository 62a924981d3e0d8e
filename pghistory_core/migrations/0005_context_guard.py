import pghistory_core.trigger_sql
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

from pghistory_core import sql


class Migration(migrations.Migration):
    """Contexts keep what they recorded: the upsert only adds keys, and a trigger refuses the rest."""

    dependencies = [
        ('pghistory_core', '0004_middlewareevents_proxy'),
    ]

    operations = [
        migrations.RunSQL(sql.FUNCTIONS_SQL, migrations.RunSQL.noop),
        pgtrigger.migrations.AddTrigger(
            model_name='context',
            trigger=pgtrigger.compiler.Trigger(name='context_guard', sql=pghistory_core.trigger_sql.OwnerBypassTriggerSql(func="\nIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN\n  RAISE EXCEPTION 'pghistory: Cannot delete context %: events are attributed to it', OLD.id\n    USING HINT = 'Only the owner of the table can lift this (pgtrigger.ignore).';\nEND IF;\nIF NOT (NEW.id OPERATOR(pg_catalog.=) OLD.id)\n   OR NOT (NEW.created_at OPERATOR(pg_catalog.=) OLD.created_at)\n   OR EXISTS (\n     SELECT FROM pg_catalog.jsonb_each(OLD.metadata) AS _pgh_old\n     WHERE NOT COALESCE(\n       NEW.metadata OPERATOR(pg_catalog.->) _pgh_old.key OPERATOR(pg_catalog.=) _pgh_old.value,\n       false\n     )\n   ) THEN\n  RAISE EXCEPTION 'pghistory: Cannot change what context % recorded', OLD.id\n    USING HINT = 'A context can gain metadata keys, never change or lose one.';\nEND IF;\nRETURN NEW;\n", hash='edd6028ee44f1a92bd3fce9112738c3670a89596', operation='UPDATE OR DELETE', pgid='pgtrigger_context_guard_7c480', table='pghistory_core_context', when='BEFORE')),
        ),
    ]
