from django.core.management.base import BaseCommand

from tests.testapp.models import Author


class Command(BaseCommand):
    help = "Create an author (used by the command-context tests)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--email", default="")
        # Secret-looking options, for the masking tests: one takes a value, one does not.
        parser.add_argument("-p", "--password", default="")
        parser.add_argument("--no-password-prompt", action="store_true")

    def handle(self, *args, **options):
        Author.objects.create(name=options["name"], email=options["email"])
