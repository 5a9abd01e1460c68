"""The commented ``lantern.toml`` that ``lantern init`` writes: every setting and every key of every table.

The help comes from where each key is validated (``SETTINGS``, each channel kind's
``options``, ``ROUTE_KEYS``, ``PLAN_KEYS``, each source kind's ``options_help``,
``SHIFT_KEYS``), so a key cannot be accepted without being documented here.

Lines starting with ``# `` are settings or example TOML (delete the ``# `` to use
them); lines starting with ``##`` are help text.  Uncommenting every ``# `` line
gives a valid configuration (a test checks it with ``lantern check``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from broadcast.shifts import SHIFT_KEYS
from monitor.alerting.routing import ROUTE_KEYS
from monitor.channels.base import COMMON_OPTIONS
from monitor.channels.registry import KINDS as CHANNEL_KINDS
from monitor.config import COMMON_KEYS
from monitor.plans import PLAN_KEYS, SCRIPT_KEYS
from monitor.sources import KINDS as SOURCE_KINDS
from web.platform.settings import SETTINGS, toml_value

WIDTH = 110

CHANNEL_TITLES = {
    "dingtalk": "DingTalk group robot (钉钉群机器人)",
    "wecom": "WeCom group robot (企业微信群机器人)",
    "feishu": "Feishu / Lark custom bot (飞书群机器人)",
    "email": "E-mail over SMTP (邮件)",
    "webhook": "Your own HTTP endpoint (通用 Webhook)",
    "console": "The in-app inbox (控制台): always there, needs no table",
}
CHANNEL_EXAMPLES: dict[str, list[str]] = {
    "dingtalk": ['name = "crisis-dingtalk"', 'kind = "dingtalk"',
                 'url = "https://oapi.dingtalk.com/robot/send?access_token=PASTE_YOUR_TOKEN"',
                 'secret = "SEC_PASTE_YOUR_SECRET"'],
    "wecom": ['name = "crisis-wecom"', 'kind = "wecom"',
              'url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=PASTE_YOUR_KEY"'],
    "feishu": ['name = "crisis-feishu"', 'kind = "feishu"',
               'url = "https://open.feishu.cn/open-apis/bot/v2/hook/PASTE_YOUR_HOOK_ID"',
               'secret = "PASTE_YOUR_SECRET"'],
    "email": ['name = "crisis-mail"', 'kind = "email"', 'host = "smtp.example.com"', "port = 587",
              'security = "starttls"', 'username = "lantern@example.com"', 'password = "PASTE_YOUR_PASSWORD"',
              'sender = "Lantern 舆情 <lantern@example.com>"', 'to = ["pr-team@example.com"]'],
    "webhook": ['name = "crisis-hook"', 'kind = "webhook"', 'url = "https://hooks.example.com/lantern"',
                'secret = "PASTE_A_LONG_RANDOM_SECRET"'],
}
SOURCE_TITLES = {
    "rss": "RSS / Atom feed, e.g. an RSSHub route",
    "json": "JSON API",
    "html": "Web page read with CSS selectors",
    "push": "Pushed to /api/ingest by another system",
    "demo": "The bundled demo replay",
}


def _help(text: str, indent: str = "") -> list[str]:
    return [f"## {line}" for line in textwrap.wrap(text, WIDTH - 3, initial_indent=indent,
                                                   subsequent_indent=indent + "    ")]


def _keys(keys: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    width = max(len(k) for k in keys) + 2
    for key, text in keys.items():
        lines += _help(f"{key.ljust(width)}{text}", "  ")
    return lines


def _example(header: str, body: list[str]) -> list[str]:
    return [f"# {header}", *(f"# {line}" for line in body), "##"]


def _settings() -> list[str]:
    lines: list[str] = []
    section = None
    for s in SETTINGS:
        if s.section != section:
            section = s.section
            lines += ["", f"[{section}]"]
        lines += [f"## {s.help}", f"# {s.key} = {toml_value(s.default)}"]
    return lines


def _channels() -> list[str]:
    lines = ["", "## ===== Alert channels: [[channels]] (where alerts are sent) =====",
             *_help("One table per destination; [[routes]] name them. Check a file with `lantern check` and "
                    "send a test message with `lantern alert test NAME`. Secrets (robot addresses, tokens, "
                    "passwords) are never logged or shown in the console."),
             "## Keys of every kind:", *_keys(COMMON_OPTIONS)]
    for kind, cls in CHANNEL_KINDS.items():
        lines += ["##", f"## -- kind = \"{kind}\": {CHANNEL_TITLES[kind]}"]
        if cls.rate_per_minute:
            lines += _help(f"Limit: {cls.rate_per_minute} messages a minute"
                           + (f", {cls.rate_per_second} a second" if cls.rate_per_second else "") + ".", "  ")
        if cls.options:
            lines += _keys(cls.options)
        if kind in CHANNEL_EXAMPLES:
            lines += _example("[[channels]]", CHANNEL_EXAMPLES[kind])
    return lines


def _routes() -> list[str]:
    return ["", "## ===== Routes: [[routes]] (who hears about which incidents) =====",
            *_help("Without any [[routes]]: P1/P2 go to managers and on-call, who must acknowledge, escalating to "
                   "admins after incidents.escalate_minutes; P3 informs managers; P4 goes to managers' daily "
                   "digest. When your routes leave a tier (or a must-act tier's escalation) uncovered, those "
                   "defaults keep covering it (incidents.default_routes); start-up and `lantern check` say so."),
            *_keys(ROUTE_KEYS),
            *_example("[[routes]]", ['name = "P1 食品安全 董事会"', 'tiers = ["P1"]', 'categories = ["food_safety"]',
                                     "must_act = true", 'channels = ["crisis-dingtalk"]',
                                     'roles = ["manager", "oncall"]']),
            *_example("[[routes]]", ['name = "P1 未确认升级"', 'tiers = ["P1", "P2"]', "level = 1",
                                     "must_act = true", 'roles = ["admin"]', 'channels = ["crisis-mail"]'])]


def _plans() -> list[str]:
    return ["", "## ===== Contingency plans: [[plans]] (预案: checklist and draft scripts) =====",
            *_help("When an incident matches a plan, its checklist attaches to the incident and each "
                   "[[plans.scripts]] template becomes a draft script in the approval queue."),
            *_keys(PLAN_KEYS), "## [[plans.scripts]] keys:", *_keys(SCRIPT_KEYS),
            *_help("The title may also use {id} {title} {tier} {categories} {mention_count}."),
            *_example("[[plans]]", ['name = "食品安全预案"', 'categories = ["food_safety"]', 'tiers = ["P1", "P2"]',
                                    'checklist = ["通知法务与公关", "涉事门店停业自查"]']),
            *_example("[[plans.scripts]]", ['title = "食品安全统一口径：{title}"',
                                            'body = "您好，关于{title}，{brand}已第一时间核查，涉事门店已停业整改。"',
                                            'priority = "high"'])]


def _sources() -> list[str]:
    lines = ["", "## ===== Sources: [[sources]] (what is watched) =====",
             *_help("Sources can also be added in the console (来源 page). `lantern poll --once` tries them."),
             "## Keys of every kind:", *_keys(COMMON_KEYS)]
    for kind, cls in SOURCE_KINDS.items():
        lines += ["##", f"## -- kind = \"{kind}\": {SOURCE_TITLES.get(kind, kind)}"]
        if cls.options_help:
            lines += _keys(cls.options_help)
    lines += _example("[[sources]]", ['name = "weibo-keyword"', 'kind = "rss"',
                                      'url = "https://rsshub.example.com/weibo/keyword/鲜味楼"',
                                      'query = "鲜味楼 AND (老鼠 OR 过期 OR 食品安全) NOT 招聘"', "interval_s = 300"])
    return lines


def _shifts() -> list[str]:
    return ["", "## ===== Shifts: [[shifts]] (班次 of the agents, in monitor.timezone) =====",
            *_help("Accounts name one (lantern user add --shift 早班); scripts may target them; coverage counts who "
                   "was on shift."),
            *_keys(SHIFT_KEYS),
            *_example("[[shifts]]", ['name = "早班"', 'start = "08:00"', 'end = "16:00"',
                                     "weekdays = [1, 2, 3, 4, 5]"])]


def _tier() -> list[str]:
    return ["", "## ===== Severity policy: [tier] (how mentions are scored P1-P4) =====",
            *_help("Weights, thresholds and authority lists of the classifier's tier formula: thresholds p1, p2, "
                   "p3 (score at least 75, 55, 30), category_points, authority_points, and [tier.sources], the "
                   "names that make an author or source central_media, provincial_media, industry_media or "
                   "verified. A list under [tier.sources] replaces that default list, so copy the names you keep."),
            "# [tier]", "# p1 = 75.0", "##"]


def render_toml() -> str:
    """A commented ``lantern.toml`` with every setting at its default and every table's keys explained."""
    lines = [
        "## Lantern configuration. Every setting is shown with its default, commented out: delete the '# '",
        "## in front of a line to use it ('## ' lines are help). Environment variables LANTERN_<SECTION>_<KEY>",
        "## override this file. Check a file with: lantern check --config lantern.toml (--connect also tries",
        "## to reach the channels), and try a channel with: lantern alert test NAME --config lantern.toml",
        "",
        *_settings(), *_tier(), *_channels(), *_routes(), *_plans(), *_sources(), *_shifts(), "",
    ]
    return "\n".join(lines)
