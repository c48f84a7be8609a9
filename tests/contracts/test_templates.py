"""Contract templates on the database: versions on every edit, static check on save, sandbox escapes refused."""

from __future__ import annotations

import pytest

from core.contracts import templates
from core.contracts.models import ContractTemplate, ContractTemplateVersion
from core.contracts.render import TemplateClass
from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from permissions.scope import EVERYTHING
from tests.loans.lending import ADMIN, LOAN_CONTRACT

pytestmark = pytest.mark.usefixtures("db")

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% set x = 1 %}{{ x }}",
    "{% include '/etc/passwd' %}",
    "{{ lipsum.__globals__ }}",
    "{{ borrower_name.format(1) }}",
    "{% for r in schedule recursive %}{{ loop(r) }}{% endfor %}",
]


def data(**over: object) -> templates.TemplateInput:
    base: dict[str, object] = {"key": "loan_contract", "name": "个人借款合同",
                               "template_class": TemplateClass.LOAN_CONTRACT, "source": LOAN_CONTRACT}
    return templates.TemplateInput(**(base | over))  # type: ignore[arg-type]


async def test_create_keeps_version_one_and_logs_it() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    assert row.current_version == 1 and row.active
    version = await ContractTemplateVersion.get(template_id=row.id, version=1)
    assert version.source == LOAN_CONTRACT and len(version.source_sha256) == 64
    log = await OperationLog.filter(module="contracts", action="create").first()
    assert log is not None and log.detail["key"] == "loan_contract"


async def test_every_edit_adds_a_version_and_keeps_the_old_ones() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    await templates.update(ADMIN, EVERYTHING, row.id, data(key=None, template_class=None, name=None,
                                                           source=LOAN_CONTRACT + "<p>v2</p>"), expected_version=1)
    edited = await templates.update(ADMIN, EVERYTHING, row.id, templates.TemplateInput(name="借款合同（新）"))
    assert edited.current_version == 3 and edited.name == "借款合同（新）"
    versions = await ContractTemplateVersion.filter(template_id=row.id).order_by("version")
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].source == LOAN_CONTRACT
    assert versions[1].source.endswith("<p>v2</p>") and versions[2].source == versions[1].source
    assert await OperationLog.filter(module="contracts", action="update").count() == 2


async def test_stale_edit_is_refused() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    await templates.update(ADMIN, EVERYTHING, row.id, templates.TemplateInput(name="第二版"), expected_version=1)
    with pytest.raises(UserError) as err:
        await templates.update(ADMIN, EVERYTHING, row.id, templates.TemplateInput(name="第三版"), expected_version=1)
    assert err.value.errors[0].field == "version" and err.value.code is ErrorCode.STALE
    assert (await ContractTemplate.get(id=row.id)).current_version == 2


async def test_versions_cannot_be_edited_in_place() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    version = await ContractTemplateVersion.get(template_id=row.id, version=1)
    version.source = "tampered"
    with pytest.raises(PermissionError):
        await version.save()


async def test_unique_key_and_key_rules() -> None:
    await templates.create(ADMIN, EVERYTHING, data())
    with pytest.raises(UserError) as err:
        await templates.create(ADMIN, EVERYTHING, data(name="另一个"))
    assert [(e.field, e.code) for e in err.value.errors] == [("key", ErrorCode.NOT_UNIQUE)]
    with pytest.raises(UserError) as err:
        await templates.create(ADMIN, EVERYTHING, data(key="Bad Key!"))
    assert err.value.errors[0].field == "key" and err.value.code is ErrorCode.INVALID


async def test_every_problem_is_reported_at_once_with_the_line() -> None:
    source = "<p>{{ borrower_name }}</p>\n<p>{{ amount | money }}</p>\n<p>{{ borower_name }}</p>"
    with pytest.raises(UserError) as err:
        await templates.create(ADMIN, EVERYTHING, data(name="", template_class=None, source=source))
    fields = {e.field for e in err.value.errors}
    assert fields == {"name", "templateClass", "source"}
    message = next(e.message for e in err.value.errors if e.field == "source")
    assert "line 3" in message and "borrower_name" in message  # the typo's line and the hint


@pytest.mark.parametrize("source", ESCAPES)
async def test_a_template_with_an_escape_attempt_is_not_saved(source: str) -> None:
    with pytest.raises(UserError) as err:
        await templates.create(ADMIN, EVERYTHING, data(source=source))
    assert all(e.field == "source" for e in err.value.errors)
    assert await ContractTemplate.all().count() == 0


async def test_an_edit_with_an_escape_attempt_keeps_the_current_version() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    with pytest.raises(UserError):
        await templates.update(ADMIN, EVERYTHING, row.id, templates.TemplateInput(source=ESCAPES[0]))
    assert (await ContractTemplate.get(id=row.id)).current_version == 1
    assert await ContractTemplateVersion.filter(template_id=row.id).count() == 1


async def test_key_and_class_are_immutable() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    with pytest.raises(UserError) as err:
        await templates.update(ADMIN, EVERYTHING, row.id, templates.TemplateInput(
            key="other", template_class=TemplateClass.DISPLAY_ONLY))
    assert {(e.field, e.code) for e in err.value.errors} == {("key", ErrorCode.IMMUTABLE),
                                                             ("templateClass", ErrorCode.IMMUTABLE)}


async def test_delete_hides_the_template_but_keeps_its_versions() -> None:
    row = await templates.create(ADMIN, EVERYTHING, data())
    await templates.delete(ADMIN, EVERYTHING, row.id)
    assert await templates.query(EVERYTHING).count() == 0
    with pytest.raises(UserError) as err:
        await templates.get(EVERYTHING, row.id)
    assert err.value.code is ErrorCode.NOT_FOUND
    assert await ContractTemplateVersion.filter(template_id=row.id).count() == 1
    with pytest.raises(UserError):  # the key stays taken
        await templates.create(ADMIN, EVERYTHING, data())
