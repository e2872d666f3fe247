"""The simulator's world: every number that shapes the simulated CRM, named and explained here.

The generation modules (leads, latent, events, funnel, truth) read only these tables, the agreed
personas and `SimulateParams`, so the whole world can be read, argued about and tuned in one place.
Rates are per day unless the name says otherwise. The numbers are tuned so that the default run
lands inside DESIGN.md's published B2B funnel benchmarks (see tests/test_simulator.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from features.vocabularies import EVENT_TYPES

# Leads are generated in chunks of this many (memory stays flat at 1M leads). The chunk layout is
# part of the random stream: changing it changes the data for a given seed, so it is not a knob.
LEADS_PER_CHUNK = 10_000

SECONDS_PER_DAY = 86_400

# EVENT_TYPES is the contract's (features/schemas.py): the simulator emits what validation knows.
EVENT = {name: code for code, name in enumerate(EVENT_TYPES)}

TOPICS = ("product", "pricing", "case_study", "industry_report", "how_to", "integration", "careers")

STAGES = ("mql", "contacted", "sql", "opportunity", "customer", "disqualified")
STAGE = {name: code for code, name in enumerate(STAGES)}


@dataclass(frozen=True)
class Channel:
    """Where a lead came from: channels differ in volume, quality and noise."""

    name: str
    share: float  # share of lead volume
    quality: float  # multiplier on the SQL hazard: referrals close, social clicks rarely do
    in_market: float  # chance a buyer from this channel is actively buying at some point
    dark: float  # share of its buyers with no web activity (badge scans, list imports)
    noise: float  # multiplier on params.non_buyer_share (bots and students love paid social)
    creation_event: str | None  # the event that created the lead (None: created offline)
    followup: float  # multiplier on the follow-up delay (outbound reps already know the lead)


CHANNELS = (
    Channel("organic_search", 0.22, 1.00, 0.30, 0.03, 1.2, "content_download", 1.0),
    Channel("paid_search", 0.16, 0.85, 0.28, 0.03, 1.4, "form_submit", 1.0),
    Channel("social", 0.14, 0.50, 0.14, 0.05, 1.7, "content_download", 1.3),
    Channel("email", 0.08, 0.90, 0.22, 0.05, 0.5, "newsletter_signup", 1.2),
    Channel("referral", 0.07, 1.60, 0.45, 0.20, 0.3, "form_submit", 0.7),
    Channel("events", 0.07, 1.20, 0.32, 0.45, 0.6, None, 1.5),
    Channel("outbound", 0.12, 0.70, 0.14, 0.55, 0.2, None, 0.4),
    Channel("direct", 0.09, 1.30, 0.40, 0.08, 1.0, "form_submit", 0.8),
    Channel("partner", 0.05, 1.40, 0.40, 0.30, 0.3, None, 0.9),
)


@dataclass(frozen=True)
class Kind:
    """Who is behind a lead. Only buyers can reach SQL; the others are busy noise.

    `interest` is the lead's latent trajectory (0..1): buying intent for buyers, a passing interest
    (a thesis, a competitive analysis) for the others. Behaviour = base + slope x interest.
    """

    name: str
    share: float  # share among non-buyers (buyers take 1 - params.non_buyer_share)
    sessions: float  # site sessions per day at zero interest
    sessions_interest: float  # extra sessions per day at full interest
    pages: float  # page views per session (Poisson mean), plus pages_interest x interest
    pages_interest: float
    pricing: float  # pricing views per session (Poisson mean), plus slope x interest
    pricing_interest: float
    download: float  # chance a session downloads content, plus slope x interest
    download_interest: float
    webinar: float  # chance a session registers for a webinar, plus slope x interest
    webinar_interest: float
    attend: float  # chance a registrant attends, plus slope x interest
    attend_interest: float
    form: float  # chance a session submits a form, plus slope x interest
    form_interest: float
    demo: float  # chance a session requests a demo, plus slope x interest^2 (only the keen ask)
    demo_interest: float
    newsletter: float  # chance a session signs up to the newsletter (first signup kept)
    email_open: float  # chance a nurture email is opened, plus slope x interest
    email_open_interest: float
    email_click: float  # chance an opened email is clicked, plus slope x interest
    email_click_interest: float
    unsubscribe: float  # chance to unsubscribe at some point (buyers: scaled by 1 - peak)
    mql_scale: float  # how readily marketing's automation flags this kind's activity as MQL
    round_the_clock: bool  # active at any hour (bots) instead of office hours
    topics_low: tuple[float, ...]  # content topic weights (TOPICS order) at zero interest
    topics_high: tuple[float, ...]  # ... at full interest (mixed linearly in between)


BUYER = Kind(
    "buyer", 0.0, 0.012, 0.22, 1.2, 2.0, 0.02, 0.6, 0.05, 0.15, 0.01, 0.04, 0.30, 0.40,
    0.005, 0.05, 0.001, 0.10, 0.03, 0.10, 0.45, 0.10, 0.30, 0.25, 1.0, False,
    (0.10, 0.02, 0.08, 0.35, 0.35, 0.05, 0.05), (0.30, 0.20, 0.30, 0.05, 0.05, 0.10, 0.00),
)  # fmt: skip
NON_BUYERS = (
    Kind(
        "student", 0.45, 0.02, 0.30, 2.0, 2.0, 0.02, 0.10, 0.25, 0.25, 0.04, 0.04, 0.50, 0.20,
        0.02, 0.03, 0.0, 0.0, 0.06, 0.15, 0.30, 0.10, 0.20, 0.40, 0.8, False,
        (0.05, 0.00, 0.05, 0.35, 0.30, 0.00, 0.25), (0.05, 0.00, 0.10, 0.35, 0.25, 0.00, 0.25),
    ),
    Kind(
        "competitor", 0.20, 0.02, 0.20, 3.0, 2.0, 0.50, 0.80, 0.15, 0.20, 0.06, 0.06, 0.60, 0.20,
        0.01, 0.02, 0.01, 0.02, 0.02, 0.40, 0.20, 0.20, 0.20, 0.05, 0.6, False,
        (0.30, 0.30, 0.30, 0.05, 0.00, 0.05, 0.00), (0.30, 0.30, 0.30, 0.05, 0.00, 0.05, 0.00),
    ),
    Kind(
        "bot", 0.35, 0.12, 0.30, 5.0, 3.0, 0.80, 0.50, 0.10, 0.10, 0.00, 0.00, 0.00, 0.00,
        0.02, 0.02, 0.002, 0.0, 0.0, 0.90, 0.0, 0.80, 0.0, 0.0, 0.08, True,
        (1, 1, 1, 1, 1, 1, 1), (1, 1, 1, 1, 1, 1, 1),
    ),  # email security scanners open and click every mail
)  # fmt: skip
KINDS = (BUYER, *NON_BUYERS)


@dataclass(frozen=True)
class Trajectory:
    """Shape of the latent interest: a bump that rises, peaks and fades around a peak day."""

    peak_offset_mean: float = 30.0  # days after creation (negative: peaked before they signed up)
    peak_offset_sd: float = 75.0
    rise_days: tuple[float, float] = (10.0, 45.0)  # uniform range of the rising half-width
    fade_days: tuple[float, float] = (20.0, 120.0)  # uniform range of the fading half-width
    in_market_height: tuple[float, float] = (4.0, 2.0)  # Beta(a, b) peak height when in market
    browsing_height: tuple[float, float] = (1.0, 8.0)  # Beta(a, b) x browsing_cap otherwise
    browsing_cap: float = 0.35
    non_buyer_height: tuple[float, float] = (3.0, 2.0)  # Beta(a, b) peak for students etc.
    floor: float = 0.06  # interest never quite reaches zero
    fit_in_market: float = 0.6  # in-market chance x (1 - this + this x 2 x fit): fit buys more


TRAJECTORY = Trajectory()


@dataclass(frozen=True)
class Funnel:
    """Hazards and delays of the funnel. SQL hazard = sql_rate x channel quality x fit weight
    x intent^intent_power x follow-up speed x sales calendar (see latent.py)."""

    mql_activity: float = 0.08  # MQL hazard per expected session per day x interest x (floor + fit)
    mql_intent: float = 0.004  # MQL hazard at full intent (hand-raisers with no web trail)
    mql_dormant: float = 0.0006  # buyers' MQL hazard whatever their intent (nurture campaigns)
    mql_fit_floor: float = 0.3
    mql_trigger_share: float = 0.7  # MQLs created by a form submit or demo request event
    mql_trigger_demo: float = 0.15  # chance the trigger is a demo request, plus 0.5 x intent
    sql_rate: float = 0.10
    fit_steepness: float = 2.0  # fit weight = exp(steepness x (fit - 1)): intent pays off on fit
    intent_power: float = 1.0
    sql_intent_floor: float = 0.35  # SQL intensity ~ (floor + intent^power): calls can persuade
    dq_rate: float = 0.006  # buyer disqualification hazard after contact, plus ...
    dq_low_intent: float = 0.03  # ... this x (1 - intent)
    dq_non_buyer: float = 0.25  # sales spots students, competitors and bots quickly
    followup_work_hours: tuple[float, float] = (8.0, 18.0)  # when sales updates the CRM
    opp_base: float = 0.25  # P(opportunity | sql) = base + fit x opp_fit + intent x opp_intent
    opp_fit: float = 0.30
    opp_intent: float = 0.25
    opp_delay_days: tuple[float, float] = (10.0, 0.6)  # lognormal (median, sigma)
    sql_lost_days: tuple[float, float] = (21.0, 0.6)  # sql -> disqualified when no opportunity
    won_base: float = 0.10  # P(customer | opportunity) = base + fit x won_fit
    won_fit: float = 0.22
    cycle_days: tuple[float, float] = (40.0, 0.5)  # opportunity -> customer
    lost_days: tuple[float, float] = (50.0, 0.6)  # opportunity -> disqualified (closed lost)
    deal_sigma: float = 0.35  # lognormal spread of deal values around the persona's average
    no_persona_deal_eur: float = 4000.0  # average deal of a customer who fits no persona
    persona_min_fit: float = 0.75  # a lead "is" its best persona from this share of criteria


FUNNEL = Funnel()

# Calendar: marketing activity and sales capacity dip in summer and at Christmas.
MONTH_ACTIVITY = (1.05, 1.05, 1.05, 1.0, 1.0, 0.95, 0.85, 0.7, 1.05, 1.1, 1.05, 0.7)
MONTH_SALES = (1.0, 1.05, 1.1, 1.0, 1.0, 0.95, 0.8, 0.6, 1.05, 1.1, 1.05, 0.55)
WEEKDAY_ACTIVITY = (1.0, 1.0, 1.0, 1.0, 0.9, 0.45, 0.4)  # Monday first
WEEKDAY_SALES = (1.0, 1.0, 1.0, 1.0, 0.9, 0.1, 0.05)
LEAD_GROWTH = 0.3  # lead volume grows this much over the history (marketing scales up)
OFFICE_HOURS = (13.0, 3.0)  # UTC hour of human activity ~ Normal(mean, sd) clipped to the day

# Engagement differs between people regardless of intent: lognormal(sigma) propensities, mean 1.
PROPENSITY_SIGMA = 0.8
EMAIL_RESPONSIVENESS_SIGMA = 0.6
NURTURE_EMAILS_PER_DAY = 0.2  # about one nurture or newsletter email a week per known contact
UNSUBSCRIBE_AFTER_DAYS = 120.0  # mean wait before an unsubscribe (exponential)
WEBINAR_AFTER_DAYS = (2, 15)  # a webinar happens 2..14 days after registration
DUPLICATE_WINDOW_S = 2  # tracking double-fires land within this many seconds

# Firmographics. Persona-targeted buyers draw each attribute from their persona's list with
# PERSONA_ATTRIBUTE_MATCH, else from the market at large; the rest of the buyers are the market.
PERSONA_TARGET_SHARE = 0.35
PERSONA_ATTRIBUTE_MATCH = 0.8
PERSONA_MAX_SIZE = 50_000  # upper end for open-ended size ranges
MARKET_SIZE = (60.0, 1.8)  # lognormal (median employees, sigma)
MAX_COMPANY_SIZE = 300_000
EXTRA_INDUSTRIES = (
    "education", "government", "non_profit", "construction", "hospitality", "energy",
    "automotive", "real_estate", "consulting", "pharma",
)  # fmt: skip
EXTRA_ROLES = (
    "analyst", "engineer", "consultant", "sales_manager", "hr_manager", "finance_manager",
    "product_manager", "assistant", "other",
)  # fmt: skip
STUDENT_ROLES = ("student", "intern")
COMPETITOR_ROLES = ("product_manager", "marketing_manager", "sales_manager", "analyst")
EXTRA_COUNTRIES = ("SE", "BE", "DK", "IE", "PT", "IN", "BR", "CA", "AU", "CZ")
COUNTRY_WEIGHTS = {"DE": 4.0, "GB": 3.0, "US": 3.0, "FR": 2.0, "NL": 1.5, "AT": 1.2, "CH": 1.2}
OTHER_COUNTRY_WEIGHT = 0.6
MISSING_BY_KIND = {"buyer": 1.0, "student": 1.5, "competitor": 1.0, "bot": 6.0}  # x missing share
NO_EMAIL_DOMAIN_SHARE = 0.02

FREE_MAIL = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "gmx.de",
    "web.de",
    "icloud.com",
)
DISPOSABLE_MAIL = ("mailinator.com", "tempmail.net", "guerrillamail.com")
UNIVERSITY_MAIL = ("tum.de", "lmu.de", "ox.ac.uk", "ucl.ac.uk", "student.uva.nl", "ethz.ch")
COMPETITOR_MAIL = ("leadrival.com", "scoreforge.io", "funnelwise.de")
COMPANY_WORDS = (
    "acme", "nord", "blue", "alpha", "vector", "sun", "terra", "nova", "core", "bright", "delta",
    "metro", "prime", "green", "apex", "river", "stone", "orbit", "pixel", "cloud", "iron",
    "lumen", "peak", "swift", "urban", "oak", "summit", "wave", "fox", "zen",
)  # fmt: skip
COMPANY_SUFFIXES = ("tech", "works", "group", "labs", "logistik", "systems", "media", "bau")
COUNTRY_TLD = {"DE": "de", "GB": "co.uk", "FR": "fr", "NL": "nl", "AT": "at", "CH": "ch",
               "PL": "pl", "ES": "es", "IT": "it", "SE": "se", "BE": "be", "DK": "dk"}  # fmt: skip
# P(free mail) by kind; students otherwise use a university domain, competitors their own,
# bots split free/disposable/corporate.
FREE_MAIL_SHARE = {"buyer": 0.12, "student": 0.55, "competitor": 0.05, "bot": 0.45}
BOT_DISPOSABLE_SHARE = 0.35
