"""Add ``User.email_confirmed_at``; everyone who signed up before the rule counts as confirmed.

Existing accounts were made before sign-up asked for proof of the address, and they already
have their credits and tokens: nobody in production loses access because of this change.
"""

from django.db import migrations, models
from django.db.models import F


def confirm_existing_users(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    User.objects.filter(email_confirmed_at__isnull=True).update(email_confirmed_at=F("date_joined"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_suspended_at_dataexport"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(confirm_existing_users, migrations.RunPython.noop),
    ]
