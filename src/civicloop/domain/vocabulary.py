"""The words of the loop: stages, actions, roles, channels and closure reasons, each with its labels.

Every enum member carries a Chinese and an English label so that errors, the CLI and the UI speak the
duty room's language without a second lookup table that could drift.
"""

from __future__ import annotations

from enum import StrEnum


class Labelled(StrEnum):
    """A StrEnum whose members have ``zh`` and ``en`` labels (see ``_LABELS``)."""

    @property
    def zh(self) -> str:
        return _LABELS[self.value][0]

    @property
    def en(self) -> str:
        return _LABELS[self.value][1]

    def label(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


class Stage(Labelled):
    """Internal stage of a case (案卷环节). Side states and loops are stages too."""

    REPORTED = "reported"  # 待受理
    VERIFYING = "verifying"  # 待核实: a public report awaiting an inspector's on-site check
    ACCEPTED = "accepted"  # 待立案
    FILED = "filed"  # 待派遣
    DISPATCHED = "dispatched"  # 处置中
    RETURN_REQUESTED = "return_requested"  # 回退待审批
    EXTENSION_REQUESTED = "extension_requested"  # 延期待审批
    SUSPENSION_REQUESTED = "suspension_requested"  # 挂账待审批
    SUSPENDED = "suspended"  # 挂账
    HANDLED = "handled"  # 处置完毕, 待派发核查
    CHECKING = "checking"  # 核查中
    CHECKED = "checked"  # 核查通过, 待结案
    SELF_HANDLED = "self_handled"  # 自处置待审核
    VOID_REQUESTED = "void_requested"  # 作废待审批
    CLOSED = "closed"  # 已结案
    REJECTED = "rejected"  # 不予受理
    NOT_FILED = "not_filed"  # 不予立案
    VOIDED = "voided"  # 已作废

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STAGES

    @property
    def public_status(self) -> str:
        """Open311 status: only ``open`` or ``closed``."""
        return "closed" if self in TERMINAL_STAGES else "open"


TERMINAL_STAGES = frozenset({Stage.CLOSED, Stage.REJECTED, Stage.NOT_FILED, Stage.VOIDED})
#: Stages in which the department's handling clock (处置计时) runs.
HANDLING_STAGES = frozenset(
    {Stage.DISPATCHED, Stage.RETURN_REQUESTED, Stage.EXTENSION_REQUESTED, Stage.SUSPENSION_REQUESTED}
)


class Action(Labelled):
    """Everything a person or the system can do to a case. Each produces exactly one event."""

    REPORT = "report"  # 上报 / 登记
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理
    VERIFY = "verify"  # 核实
    FILE = "file"  # 立案
    NOT_FILE = "not_file"  # 不予立案
    DISPATCH = "dispatch"  # 派遣
    REQUEST_RETURN = "request_return"  # 申请回退
    APPROVE_RETURN = "approve_return"  # 回退审批通过
    DENY_RETURN = "deny_return"  # 回退审批不通过
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    REQUEST_SUSPENSION = "request_suspension"  # 申请挂账
    APPROVE_SUSPENSION = "approve_suspension"
    DENY_SUSPENSION = "deny_suspension"
    RESUME = "resume"  # 挂账恢复
    HANDLE = "handle"  # 处置反馈
    SEND_CHECK = "send_check"  # 派发核查
    CHECK = "check"  # 核查
    CLOSE = "close"  # 结案
    REQUEST_VOID = "request_void"  # 申请作废
    APPROVE_VOID = "approve_void"
    DENY_VOID = "deny_void"
    VOID = "void"  # 作废 (shift leader, directly)
    APPROVE_SELF_HANDLING = "approve_self_handling"  # 自处理审核通过
    REJECT_SELF_HANDLING = "reject_self_handling"  # 自处理无效
    REOPEN = "reopen"  # 重新开启 (a false closure)
    COMMENT = "comment"  # 备注
    URGE = "urge"  # 督办
    LINK_DUPLICATE = "link_duplicate"  # 关联重复上报: another report of the same problem joins this case
    UNLINK_DUPLICATE = "unlink_duplicate"  # 取消关联: a wrong merge is split off again
    SPLIT = "split"  # 拆分: a report wrongly merged as a duplicate becomes a case of its own again
    FLAG_RECURRENCE = "flag_recurrence"  # 复发: the problem came back after this case was closed
    LOCATE = "locate"  # 定位: a case without a position gets one (e.g. an imported record, 待定位)


class Role(Labelled):
    INSPECTOR = "inspector"  # 监督员
    OPERATOR = "operator"  # 受理员
    SHIFT_LEADER = "shift_leader"  # 值班长
    DISPATCHER = "dispatcher"  # 派遣员
    DEPARTMENT = "department"  # 专业部门处置人员
    LEADER = "leader"  # 领导 / 指挥长
    CITIZEN = "citizen"  # 公众
    SYSTEM = "system"  # 系统 (simulator, integrations, automatic triage)
    ADMIN = "admin"  # 系统管理员


class Channel(Labelled):
    """Where a report came from (信息来源)."""

    INSPECTOR = "inspector"  # 监督员上报
    CITIZEN = "citizen"  # 公众举报 (app, WeChat, web)
    HOTLINE = "hotline"  # 12319 / 12345 热线
    OPEN311 = "open311"  # another system over Open311
    VIDEO = "video"  # 视频监控
    ASSIGNED = "assigned"  # 上级交办
    MEDIA = "media"  # 媒体曝光
    PATROL = "patrol"  # 巡查 (automatic, e.g. unlit street lights)
    IMPORT = "import"  # 历史导入


class Urgency(Labelled):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急


class ClosureReason(Labelled):
    """Why a case ended. Only FIXED and SELF_FIXED mean the problem was solved."""

    FIXED = "fixed"  # 已处置
    SELF_FIXED = "self_fixed"  # 监督员自处置
    DUPLICATE = "duplicate"  # 重复
    MISFILED = "misfiled"  # 错误立案 / 误报
    NOT_CITY_BUSINESS = "not_city_business"  # 非城管职责
    INVALID = "invalid"  # 无效 / 核实不属实
    NOT_FILED = "not_filed"  # 不符合立案条件

    @property
    def is_fixed(self) -> bool:
        return self in (ClosureReason.FIXED, ClosureReason.SELF_FIXED)


class Step(Labelled):
    """A timed step of the loop, each with its own limit (环节时限)."""

    ACCEPT = "accept"
    VERIFY = "verify"
    FILE = "file"
    DISPATCH = "dispatch"
    HANDLE = "handle"
    CHECK_DISPATCH = "check_dispatch"
    CHECK = "check"
    CLOSE = "close"
    APPROVE = "approve"


_LABELS: dict[str, tuple[str, str]] = {
    # stages
    "reported": ("待受理", "awaiting acceptance"),
    "verifying": ("待核实", "awaiting verification"),
    "accepted": ("待立案", "awaiting filing"),
    "filed": ("待派遣", "awaiting dispatch"),
    "dispatched": ("处置中", "being handled"),
    "return_requested": ("回退待审批", "return requested"),
    "extension_requested": ("延期待审批", "extension requested"),
    "suspension_requested": ("挂账待审批", "suspension requested"),
    "suspended": ("挂账", "suspended"),
    "handled": ("待派发核查", "handled, check to be sent"),
    "checking": ("核查中", "being checked"),
    "checked": ("待结案", "checked, awaiting closure"),
    "self_handled": ("自处置待审核", "self-handled, awaiting review"),
    "void_requested": ("作废待审批", "void requested"),
    "closed": ("已结案", "closed"),
    "rejected": ("不予受理", "not accepted"),
    "not_filed": ("不予立案", "not filed"),
    "voided": ("已作废", "voided"),
    # actions
    "report": ("上报", "report"),
    "accept": ("受理", "accept"),
    "reject": ("不予受理", "reject at intake"),
    "verify": ("核实", "verify on site"),
    "file": ("立案", "file"),
    "not_file": ("不予立案", "decline to file"),
    "dispatch": ("派遣", "dispatch"),
    "request_return": ("申请回退", "request a return"),
    "approve_return": ("同意回退", "approve the return"),
    "deny_return": ("驳回回退", "deny the return"),
    "request_extension": ("申请延期", "request an extension"),
    "approve_extension": ("同意延期", "approve the extension"),
    "deny_extension": ("驳回延期", "deny the extension"),
    "request_suspension": ("申请挂账", "request suspension"),
    "approve_suspension": ("同意挂账", "approve the suspension"),
    "deny_suspension": ("驳回挂账", "deny the suspension"),
    "resume": ("挂账恢复", "resume"),
    "handle": ("处置反馈", "report handling"),
    "send_check": ("派发核查", "send a check task"),
    "check": ("核查", "check on site"),
    "close": ("结案", "close"),
    "request_void": ("申请作废", "request voiding"),
    "approve_void": ("同意作废", "approve voiding"),
    "deny_void": ("驳回作废", "deny voiding"),
    "void": ("作废", "void"),
    "approve_self_handling": ("自处置审核通过", "approve self-handling"),
    "reject_self_handling": ("自处置无效", "reject self-handling"),
    "reopen": ("重新开启", "reopen"),
    "comment": ("备注", "comment"),
    "urge": ("督办", "urge"),
    "link_duplicate": ("关联重复上报", "link a duplicate report"),
    "unlink_duplicate": ("取消重复关联", "unlink a duplicate report"),
    "split": ("拆分为独立案卷", "split off as a case of its own"),
    "flag_recurrence": ("标记复发", "flag a recurrence"),
    "locate": ("定位", "locate"),
    # roles
    "inspector": ("监督员", "inspector"),
    "operator": ("受理员", "operator"),
    "shift_leader": ("值班长", "shift leader"),
    "dispatcher": ("派遣员", "dispatcher"),
    "department": ("专业部门", "department handler"),
    "leader": ("领导", "leader"),
    "citizen": ("公众", "citizen"),
    "system": ("系统", "system"),
    "admin": ("管理员", "administrator"),
    # channels (inspector/citizen share the role label keys above)
    "hotline": ("热线", "hotline"),
    "open311": ("Open311 接口", "Open311"),
    "video": ("视频监控", "video"),
    "assigned": ("上级交办", "assigned from above"),
    "media": ("媒体曝光", "media"),
    "patrol": ("巡查", "patrol"),
    "import": ("历史导入", "import"),
    # urgency
    "normal": ("一般", "normal"),
    "urgent": ("紧急", "urgent"),
    # closure reasons
    "fixed": ("已处置", "fixed"),
    "self_fixed": ("自处置", "fixed on the spot"),
    "duplicate": ("重复案卷", "duplicate"),
    "misfiled": ("错误立案", "misfiled"),
    "not_city_business": ("非城管职责", "not city-management business"),
    "invalid": ("无效", "invalid"),
    # steps (accept/verify/file/dispatch/handle/check/close share keys above)
    "check_dispatch": ("派发核查", "send check"),
    "approve": ("审批", "approval"),
}
