"""The operator's screens for clinics and domains (public schema, /admin/)."""

from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline

from secretaria.admin_sites import operator_site
from tenants.models import Clinic, Domain


class DomainInline(TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


@admin.register(Clinic, site=operator_site)
class ClinicAdmin(ModelAdmin):
    list_display = ["name", "schema_name", "tenant_id", "time_zone", "is_active", "created_at"]
    list_filter = ["is_active", "time_zone"]
    search_fields = ["name", "schema_name", "domains__domain"]
    readonly_fields = ["created_at", "updated_at", "webhook_previous_valid_until"]
    exclude = ["webhook_secret", "webhook_token", "webhook_token_previous", "webhook_secret_previous"]
    inlines = [DomainInline]

    def get_readonly_fields(self, request, obj=None):
        # The slug is the schema name: it cannot change after creation.
        return [*self.readonly_fields, "schema_name"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        # Dropping a clinic's schema is a deliberate operation, not a click.
        return False


@admin.register(Domain, site=operator_site)
class DomainAdmin(ModelAdmin):
    list_display = ["domain", "tenant", "is_primary"]
    search_fields = ["domain", "tenant__name", "tenant__schema_name"]
    list_select_related = ["tenant"]
