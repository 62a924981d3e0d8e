import pghistory_core.trigger_sql
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('testapp', '0004_compat_3x'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name='ledgerentryevent',
            name='append_only',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='ledgerentryevent',
            name='append_only_truncate',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='ledgerentryevent',
            name='hash_chain',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='noteevent',
            name='append_only',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='noteevent',
            name='append_only_truncate',
        ),
        migrations.AddField(
            model_name='ledgerentryevent',
            name='pgh_chain_seal',
            field=models.JSONField(editable=False, help_text='On the first chained event: the events held before the chain started.', null=True),
        ),
        migrations.AddField(
            model_name='ledgerentryevent',
            name='pgh_context_snapshot',
            field=models.JSONField(editable=False, help_text='The context metadata when this event was written (chained).', null=True),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ledgerentryevent',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pghistory_core.trigger_sql.OwnerBypassTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME USING HINT = 'History is append-only. Only the owner of the table (or a member of its role) can lift this, with pghistory_core.bypass_append_only().';", hash='b2ed0d88d02705a012542cd9d5ff213a9be1ed08', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_1aec3', table='testapp_ledgerentryevent', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ledgerentryevent',
            trigger=pgtrigger.compiler.Trigger(name='append_only_truncate', sql=pghistory_core.trigger_sql.OwnerBypassTriggerSql(declare='DECLARE _pgh_found BOOLEAN;', func="EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO _pgh_found;\nIF _pgh_found THEN\n  RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME\n    USING HINT = 'History is append-only. Only the owner of the table (or a member of its role) can lift this, with pghistory_core.bypass_append_only().';\nEND IF;\nRETURN NULL;", hash='ad72cc8b66add59433126ac995a2a0c0f093d295', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_append_only_truncate_a09ce', table='testapp_ledgerentryevent', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='ledgerentryevent',
            trigger=pgtrigger.compiler.Trigger(name='hash_chain', sql=pghistory_core.trigger_sql.OwnerBypassTriggerSql(declare='DECLARE _pgh_previous TEXT;', func='PERFORM pg_advisory_xact_lock(1676166812, \'"testapp_ledgerentryevent"\'::regclass::oid::int);\nNEW.pgh_id := nextval(\'pghistory_core_event_id_seq\');\nNEW.pgh_chain_seal := NULL;\nSELECT "pgh_hash" INTO _pgh_previous FROM "testapp_ledgerentryevent" ORDER BY pgh_id DESC LIMIT 1;\nIF _pgh_previous IS NULL AND NOT EXISTS (SELECT FROM "testapp_ledgerentryevent" WHERE "pgh_hash" IS NOT NULL) THEN\n  NEW.pgh_chain_seal := (SELECT jsonb_build_object(\'events\', count(*), \'last_pgh_id\', max(pgh_id)) FROM "testapp_ledgerentryevent");\nEND IF;\nNEW.pgh_context_snapshot := (SELECT metadata FROM pghistory_core_context WHERE id = NEW."pgh_context_id");\nNEW.pgh_hash := encode(sha256(convert_to(COALESCE(_pgh_previous, \'\') || jsonb_strip_nulls(jsonb_build_object(\'account\', NEW."account"::text, \'amount\', NEW."amount"::text, \'blob\', encode(NEW."blob", \'hex\'), \'booked_at\', extract(epoch FROM NEW."booked_at")::numeric::text, \'booked_on\', to_char(NEW."booked_on", \'YYYY-MM-DD\'), \'data\', NEW."data"::text, \'id\', NEW."id"::text, \'pgh_chain_seal\', NEW."pgh_chain_seal"::text, \'pgh_context_id\', NEW."pgh_context_id"::text, \'pgh_context_snapshot\', NEW."pgh_context_snapshot"::text, \'pgh_created_at\', extract(epoch FROM NEW."pgh_created_at")::numeric::text, \'pgh_id\', NEW."pgh_id"::text, \'pgh_label\', NEW."pgh_label"::text, \'pgh_obj_id\', NEW."pgh_obj_id"::text, \'rate\', encode(float8send(NEW."rate"::float8), \'hex\')))::text, \'UTF8\')), \'hex\');\nRETURN NEW;', hash='c2d912b1e643309139f9a4e11b05e5fb95bb28d5', operation='INSERT', pgid='pgtrigger_hash_chain_7ea5c', table='testapp_ledgerentryevent', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='noteevent',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pghistory_core.trigger_sql.OwnerBypassTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME USING HINT = 'History is append-only. Only the owner of the table (or a member of its role) can lift this, with pghistory_core.bypass_append_only().';", hash='1e4cd33cd82e162a80f43618b73549d29c5bc1e2', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_68217', table='testapp_noteevent', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='noteevent',
            trigger=pgtrigger.compiler.Trigger(name='append_only_truncate', sql=pghistory_core.trigger_sql.OwnerBypassTriggerSql(declare='DECLARE _pgh_found BOOLEAN;', func="EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO _pgh_found;\nIF _pgh_found THEN\n  RAISE EXCEPTION 'pgtrigger: Cannot truncate % table', TG_TABLE_NAME\n    USING HINT = 'History is append-only. Only the owner of the table (or a member of its role) can lift this, with pghistory_core.bypass_append_only().';\nEND IF;\nRETURN NULL;", hash='13a9ab74a96b9a26f17d8f868d8af39113fa4105', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_append_only_truncate_92070', table='testapp_noteevent', when='BEFORE')),
        ),
    ]
