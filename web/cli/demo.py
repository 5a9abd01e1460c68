"""``lantern demo``: the whole system on a throw-away database with a replayed crisis.

A bundled demo source replays a realistic stream of Chinese brand mentions:
a quiet background, then a media exposé, reposts and angry complaints.  Demo
accounts (three managers in teams pr and service, on-call, two agents, an admin)
are created and printed with a walkthrough of the whole journey, and one service
notice is drafted, approved by another manager and published, so the ticker
moves from the first second.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web.auth import users
from web.cli.serve import configure_logging, serve
from web.compose import Services
from web.platform.settings import Settings, load_settings


@dataclass(frozen=True)
class DemoAccount:
    name: str
    role: str
    team: str
    display_name: str


# Enough people for every approval rule: a critical script needs one approver from pr and one from
# service besides its author and submitter (``broadcast.approvals_critical`` below), so three managers.
DEMO_ACCOUNTS = (
    DemoAccount("wang.pr", "manager", "pr", "王经理（公关）"),
    DemoAccount("zhou.pr", "manager", "pr", "周经理（公关）"),
    DemoAccount("li.service", "manager", "service", "李经理（客服）"),
    DemoAccount("zhao.oncall", "oncall", "ops", "赵值班"),
    DemoAccount("zhang.agent", "agent", "hotline", "张坐席"),
    DemoAccount("liu.agent", "agent", "hotline", "刘坐席"),
    DemoAccount("admin", "admin", "ops", "系统管理员"),
)
DEMO_APPROVALS_CRITICAL = ["pr", "service"]

WELCOME_TITLE = "服务提示：外卖延误统一答复"
WELCOME_BODY = (
    "您好，非常抱歉给您带来不便。今日部分区域因天气原因配送延迟，"
    "我们已为受影响订单自动发放 5 元无门槛券，请在“我的-优惠券”中查看。如需退款可直接为您办理。"
)

DEMO_PLANS: list[dict[str, Any]] = [
    {
        "name": "食品安全曝光预案",
        "categories": ["food_safety"],
        "tiers": ["P1", "P2"],
        "checklist": ["核实涉事门店与批次", "门店停业整改并留存证据", "联系监管部门说明情况", "48 小时内发布致歉声明"],
        "scripts": [
            {
                "title": "食品安全事件统一口径",
                "body": (
                    "您好，感谢您的关注。我们已关注到相关报道，涉事门店已第一时间停业整改，"
                    "并配合市场监管部门调查，结果将第一时间公布。如您在该门店消费后身体不适，"
                    "请提供订单信息，我们将全程负责就医与赔付。"
                ),
                "priority": "critical",
            }
        ],
    }
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run Lantern with a throw-away database and a replayed crisis")
    parser.add_argument("--port", type=int, default=8080, help="listen port (default: 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    parser.add_argument("--speed", type=float, default=None, help="replay speed-up (default: demo.speed)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory on exit")
    parser.set_defaults(func=run)


def demo_settings(data_dir: Path, *, host: str, port: int, speed: float | None) -> Settings:
    base = load_settings(env={})
    if speed is None:
        speed = float(base["demo.speed"])
    settings = base.with_overrides(storage__path=str(data_dir / "lantern.db"), server__host=host,
                                   server__port=port, monitor__brands=["鲜味楼"],
                                   broadcast__approvals_critical=DEMO_APPROVALS_CRITICAL)
    return settings.with_lists(sources=[{"name": "demo", "kind": "demo", "speed": speed, "interval_s": 2}],
                               plans=DEMO_PLANS)


async def seed(services: Services) -> dict[str, str]:
    """Create the demo accounts and publish one approved notice; returns name -> password."""
    now = services.clock()
    passwords = {a.name: "demo-" + secrets.token_hex(4) for a in DEMO_ACCOUNTS}

    def add(db: Any) -> list[users.User]:
        return [users.add_user(db, a.name, a.role, passwords[a.name], team=a.team,
                               display_name=a.display_name, now=now) for a in DEMO_ACCOUNTS]

    people = {u.name: u for u in await services.db.write(add)}
    author, approver = people["wang.pr"], people["li.service"]
    scripts = services.scripts
    if scripts is not None:
        draft = await scripts.create_draft(author, title=WELCOME_TITLE, body=WELCOME_BODY, priority="normal")
        await scripts.submit(draft["id"], author)
        await scripts.approve(draft["id"], draft["version"], approver, "同意发布")
        await scripts.publish(draft["id"], approver)
    return passwords


def walkthrough(url: str) -> str:
    """What to click, as each role, to take the plan's script from draft to the agents' tickers."""
    return f"""\
Walk the whole journey / 走一遍完整流程 (English: the switch at the top right of every page):
  1. 约一分钟内，曝光事件升级为 P1，预案「食品安全曝光预案」起草话术「食品安全事件统一口径」（紧急）。
     Within a minute the exposé becomes a P1 incident and its plan drafts the critical script above.
  2. wang.pr 登录 {url}/login → 话术 → 打开该话术 → 修改正文 → 提交审批（修改会先保存为新版本）。
     Sign in as wang.pr → Scripts → open it → edit the body → Submit for approval (your edit is saved first).
     作者和提交人不能审批：页面写明还需 pr 团队 1 人、service 团队 1 人。
     Its author and submitter cannot approve: the page says it needs 1 from team pr and 1 from team service.
  3. li.service 登录 → 待审批 → 批准（service 团队）。
     Sign in as li.service → Approvals → Approve (team service).
  4. zhou.pr 登录 → 待审批 → 批准（pr 团队）→ 打开话术 → 发布。
     Sign in as zhou.pr → Approvals → Approve (team pr) → open the script → Publish.
  5. zhang.agent 登录：走马灯上是修改后的口径；点它 → 我已知晓。之后登录的 liu.agent 也会看到它。
     Sign in as zhang.agent: the ticker shows the edited text; click it → Got it. liu.agent, later, sees it too.
  6. 回到话术页 → 触达情况：谁已展示、谁已确认。
     Back on the script page → Coverage: who displayed and who acknowledged it.
  7. zhao.oncall 登录 → 我的告警 → 在 P1 事件上写备注（所有人可见）→ 确认处理。
     Sign in as zhao.oncall → My alerts → add a comment (everyone sees it) on the P1 incident → Acknowledge.
  8. admin 登录 → 用户、数据源、路由与预案。
     Sign in as admin → Users, Sources, Routing & plans."""


def announcement(url: str, passwords: dict[str, str]) -> str:
    """The demo accounts and the walkthrough, as printed at start."""
    lines = ["Demo accounts / 演示账号 (name / password / role / team / display name):"]
    lines += [f"  {a.name:<12} {passwords[a.name]:<14} {a.role:<8} {a.team:<8} {a.display_name}" for a in DEMO_ACCOUNTS]
    lines += ["", walkthrough(url), "",
              f"Console 控制台 {url}/   Ticker 走马灯 {url}/ticker",
              "A crisis builds up over the next minute. Ctrl-C stops the demo.", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="lantern-demo-"))
    settings = demo_settings(data_dir, host=args.host, port=args.port, speed=args.speed)
    configure_logging(settings)

    async def announce(services: Services, url: str) -> None:
        passwords = await seed(services)
        print(f"\nDemo data directory: {data_dir}  ({'kept' if args.keep else 'deleted on exit'})")
        print(announcement(url, passwords), flush=True)

    try:
        asyncio.run(serve(settings, announce=announce))
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0
