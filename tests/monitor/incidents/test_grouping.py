"""Story matching (monitor/incidents/grouping.py, story.py): the cases issue 12 reported, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.incidents import grouping
from monitor.incidents.grouping import features
from monitor.incidents.story import Features, Profile, brand_in, hashtags, root_text
from tests.fixtures.alerts.helpers import Clock, make_services, settings_for, store_mention

EXPOSE = ("【暗访鲜味楼中央厨房：过期冷冻牛肉解冻后改标签发往门店】#鲜味楼中央厨房过期牛肉# 记者发现过期近一个月的"
          "冷冻牛肉被解冻、重新分装，贴上新的生产日期后配送到多家门店")
MEAT = "#麦香园过期肉#我是麦香园望京店的前员工，店里过期的汉堡肉饼，店长让我们撕掉原来的标签重新打印"


@pytest.fixture
async def services(tmp_path: Path) -> Any:
    svc = await make_services(settings_for(tmp_path, monitor__brands=["鲜味楼", "麦香园"]), Clock())
    yield svc
    svc.db.close()


async def incident_of(services: Any, mention_id: int) -> int | None:
    row = await services.db.read(lambda db: db.execute("select incident_id from mentions where id = ?",
                                                       [mention_id]).fetchone())
    return row[0]


async def crisis(services: Any) -> int:
    """A P1 food-safety exposé about 鲜味楼 and a few retellings: a major incident."""
    posts = [await store_mention(services, title=EXPOSE, categories=("food_safety", "media_exposure"), tier="P1")]
    for text in ("鲜味楼中央厨房把过期牛肉改标签发到门店，太黑心了", "过期冷冻牛肉解冻后改生产日期，鲜味楼真敢"):
        posts.append(await store_mention(services, title=text, categories=("food_safety",), tier="P3"))
    await services.incidents.on_mentions(posts)
    incident = await incident_of(services, posts[0].id)
    assert incident is not None and {await incident_of(services, p.id) for p in posts} == {incident}
    return incident


def test_story_features_strip_reposters_and_keep_hashtags() -> None:
    chain = "坐等处理结果 //@momo酱:无语 #避雷# //@是阿紫呀: #鲜味楼奶茶喝出蟑螂#救命！西单店的杨枝甘露里有蟑螂"
    assert root_text(chain) == "#鲜味楼奶茶喝出蟑螂#救命！西单店的杨枝甘露里有蟑螂"
    assert hashtags(chain) == ["避雷", "鲜味楼奶茶喝出蟑螂"]
    f = features(chain)
    assert "蟑螂" in f.terms and "无语" not in f.terms and "处理" not in f.terms
    assert features("看到新闻后申请退储值卡被拒").cue == 2 and features("这事鲜味楼得给个说法").cue == 1
    assert features("鲜味楼的酸菜鱼真好吃").cue == 0


def test_the_brand_is_the_one_the_post_is_about() -> None:
    brands = ("鲜味楼", "麦香园")
    assert brand_in("继鲜味楼之后，麦香园也被曝把过期的肉改标签接着卖", brands) == "麦香园"
    assert brand_in("麦香园的汉堡肉饼过期了撕标签重新打印，这操作比鲜味楼还离谱", brands) == "麦香园"
    assert brand_in("#麦香园过期肉# 鲜味楼鲜味楼都一样", brands) == "麦香园"
    assert brand_in("今天吃了火锅", brands) == ""


def test_profile_core_is_what_several_posts_say_and_survives_json() -> None:
    p = Profile()
    for text in ("鲜味楼过期牛肉改标签，理直气壮", "鲜味楼中央厨房过期牛肉", "过期牛肉解冻重新分装"):
        p.add(features(text))
    core = [t for t, _ in p.core(lambda _t: 1.0)]
    assert "过期" in core and "牛肉" in core and "理直气壮" not in core
    assert Profile.from_json(p.to_json()) == p


async def test_a_hashtag_post_joins_the_incident_of_its_hashtag(services: Any) -> None:
    first = await store_mention(services, title=MEAT, categories=("food_safety",), tier="P3")  # not major
    await services.incidents.on_mentions([first])
    short = await store_mention(services, title="#麦香园过期肉# 太恶心了[吐]", negative=0.95, tier="P4")
    await services.incidents.on_mentions([short])
    assert await incident_of(services, short.id) == await incident_of(services, first.id) is not None


async def test_another_story_about_the_same_brand_is_not_absorbed_by_the_crisis(services: Any) -> None:
    main = await crisis(services)
    cockroach = await store_mention(
        services, title="#鲜味楼奶茶喝出蟑螂#救命！在鲜味楼西单店买的杨枝甘露喝出一只蟑螂，店员说是飞进去的",
        categories=("food_safety",), tier="P3")
    again = await store_mention(services, title="鲜味楼西单店的奶茶里喝出蟑螂，店员还说是外面飞进去的",
                                categories=("food_safety",), tier="P3")
    chatter = await store_mention(services, title="鲜味楼这次的水煮肉片有点咸，跟以前的味道不太一样", negative=0.8,
                                  tier="P4")
    await services.incidents.on_mentions([cockroach, again, chatter])
    other = await incident_of(services, cockroach.id)
    assert other is not None and other != main
    assert await incident_of(services, again.id) == other  # the retelling follows its own story
    assert await incident_of(services, chatter.id) is None


async def test_follow_ups_of_the_crisis_join_it_and_another_brand_never_does(services: Any) -> None:
    main = await crisis(services)
    refund = await store_mention(services, title="看到新闻后申请退鲜味楼储值卡余额，门店说不退，霸王条款",
                                 categories=("fraud_pricing",), tier="P3")
    matter = await store_mention(services, title="鲜味楼的公关到现在都没有回应？装死吗？", tier="P4", negative=0.9)
    other_brand = await store_mention(services, title="麦香园也被曝过期冷冻牛肉改标签，解冻后重新分装配送门店",
                                      categories=("food_safety",), tier="P3")
    await services.incidents.on_mentions([refund, matter, other_brand])
    assert await incident_of(services, refund.id) == main
    assert await incident_of(services, matter.id) == main
    assert await incident_of(services, other_brand.id) not in (None, main)


async def test_watched_posts_sharing_a_hashtag_open_one_incident_together(services: Any) -> None:
    # Clearly negative P4 posts without a risk category wait in the watch; three that name one story by its
    # hashtag open it together, however different their words (the watch groups as an open incident would).
    texts = ("#麦香园店员推搡顾客#今天在五道口店，一位阿姨说汉堡没熟想换一个，店员直接推得她撞上桌角",
             "#麦香园店员推搡顾客#刷到视频了，额头都撞肿了，报警了没有",
             "太恶心了 #麦香园店员推搡顾客# 必须开除")
    posts = []
    for text in texts:
        posts.append(await store_mention(services, title=text, negative=0.9, tier="P4"))
        await services.incidents.on_mentions([posts[-1]])
    first = await incident_of(services, posts[0].id)
    assert first is not None and {await incident_of(services, p.id) for p in posts} == {first}


async def test_watched_retellings_corroborate_through_each_other(services: Any) -> None:
    # The third post shares few words with the first, but both share many with the second: one story.
    texts = ("麦香园套餐偷偷涨价，薯条从大份变成中份",
             "麦香园双层牛肉堡套餐上个月32今天36，薯条变成中份，偷偷涨价还缩水",
             "麦香园的双层牛肉堡上个月32今天36，肉饼也缩水了")
    posts = []
    for text in texts:
        posts.append(await store_mention(services, title=text, negative=0.9, tier="P4"))
        await services.incidents.on_mentions([posts[-1]])
    first = await incident_of(services, posts[0].id)
    assert first is not None and {await incident_of(services, p.id) for p in posts} == {first}


def test_a_major_incident_takes_a_short_retelling_but_not_a_post_sharing_two_words() -> None:
    story_words = [f"事{i}" for i in range(12)]
    profile = Profile({w: 3.0 for w in story_words}, [], 3)
    crisis_at = grouping.Candidate(1, profile, ["food_safety"], "鲜味楼", "P2", last_mention_at=1000.0)
    rules = grouping.Rules()

    def place(words: list[str], categories: tuple[str, ...] = (), tier: str = "P4") -> int | None:
        probe = grouping.Probe(Features(tuple(words), (), 0), categories, "鲜味楼", True, tier)
        return grouping.best_match(probe, [crisis_at], rules, 1000.0)[0]

    # Three of its words in a post of twelve: a quarter, below the bar (0.3) but within 0.8 of it.
    retelling = [*story_words[:3], *(f"别{i}" for i in range(9))]
    assert place(retelling) == 1
    assert place([*story_words[:2], *(f"别{i}" for i in range(6))]) is None  # two words only
    assert place(retelling, ("privacy",)) is None  # another kind of risk: another story
    assert place(retelling, tier="P2") is None  # as severe as the incident: its own story
