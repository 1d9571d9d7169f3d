"""The root types' parts: each feature module contributes its own Query and Mutation
classes, merged into the schema's roots by :mod:`api.schema` (field order follows these
tuples)."""

from __future__ import annotations

from api.activities import ActivityMutation, ActivityQuery
from api.alerts import AlertMutation, AlertQuery
from api.campaigns import CampaignMutation, CampaignQuery
from api.channel_codes import ChannelCodeMutation, ChannelCodeQuery
from api.content import ContentMutation, ContentQuery
from api.coupons import CouponMutation, CouponQuery
from api.customer_clients import CustomerClientMutation, CustomerClientQuery
from api.customer_groups import CustomerGroupQuery
from api.daily_reports import DailyReportQuery
from api.funnels import FunnelQuery
from api.group_campaigns import GroupCampaignMutation, GroupCampaignQuery
from api.holidays import HolidayMutation, HolidayQuery
from api.leaderboard import LeaderboardQuery, LeaderboardSubscription
from api.manager_overview import MANAGER_QUERIES
from api.marketing_tasks import MarketingTaskMutation, MarketingTaskQuery
from api.moments import MomentMutation, MomentQuery
from api.mutations import CustomerMutation
from api.operations import OperationsQuery
from api.organisation import OrganisationMutation, OrganisationQuery
from api.privacy import PrivacyMutation, PrivacyQuery
from api.products import ProductMutation, ProductQuery
from api.referrals import ReferralMutation, ReferralQuery
from api.scripts import ScriptMutation, ScriptQuery
from api.segment_mutations import SegmentMutation
from api.segments import SegmentQuery
from api.sops import SopMutation, SopQuery
from api.staff_kpis import StaffKpiQuery
from api.tag_groups import TagGroupMutation, TagGroupQuery
from api.targets import TargetMutation, TargetQuery
from api.tokens import TokenMutation, TokenQuery
from api.working_hours import WorkingHoursMutation, WorkingHoursQuery

FEATURE_QUERIES: tuple[type, ...] = (
    SegmentQuery,
    TagGroupQuery,
    OrganisationQuery,
    CampaignQuery,
    GroupCampaignQuery,
    CustomerGroupQuery,
    HolidayQuery,
    StaffKpiQuery,
    AlertQuery,
    MomentQuery,
    ScriptQuery,
    MarketingTaskQuery,
    DailyReportQuery,
    OperationsQuery,
    TargetQuery,
    LeaderboardQuery,
    WorkingHoursQuery,
    ReferralQuery,
    CouponQuery,
    SopQuery,
    ActivityQuery,
    ProductQuery,
    ContentQuery,
    ChannelCodeQuery,
    TokenQuery,
    PrivacyQuery,
    CustomerClientQuery,
    FunnelQuery,
    *MANAGER_QUERIES,
)
MUTATIONS: tuple[type, ...] = (
    CustomerMutation,
    SegmentMutation,
    TagGroupMutation,
    OrganisationMutation,
    CampaignMutation,
    GroupCampaignMutation,
    HolidayMutation,
    AlertMutation,
    MomentMutation,
    ScriptMutation,
    MarketingTaskMutation,
    TargetMutation,
    WorkingHoursMutation,
    ReferralMutation,
    CouponMutation,
    SopMutation,
    ActivityMutation,
    ProductMutation,
    ContentMutation,
    ChannelCodeMutation,
    TokenMutation,
    PrivacyMutation,
    CustomerClientMutation,
)
#: Subscriptions (graphql-transport-ws over WebSocket at /graphql), merged the same way.
SUBSCRIPTIONS: tuple[type, ...] = (
    LeaderboardSubscription,
)
