"""Who may call what: the access roles allowed on every root GraphQL field (and the few
guarded below the root). :mod:`api.policy` enforces the table; docs/access.md is the same
table for people, and ``tests/unit/api/test_policy.py`` fails when a field has no entry."""

from __future__ import annotations

from api.access_roles import AU, CM, CU, DM, FL, MIDDLE, OP, STAFF, SV, Access, m, q

#: ``Type.field`` → the access roles allowed to call it (everyone else: FORBIDDEN).
POLICY: dict[str, frozenset[Access]] = {
    # -- customers and their history
    "Query.customer": q(CM, DM, OP, FL, CU),
    "Query.customerByIdentity": q(CM, DM, OP, FL, CU),
    "Query.me": q(CM, DM, OP, FL, CU, SV),
    "Query.customers": q(CM, DM, OP, FL),
    "Query.customerHistory": q(CM, DM, FL, CU),
    "Query.customerOwnership": q(CM, DM, OP, FL),
    "Query.customerCoupons": q(CM, DM, OP, FL, CU),
    "Query.customerSopEnrolments": q(CM, OP),
    # -- staff and the organisation
    "Query.staffMember": STAFF,
    "Query.staffMembers": STAFF,
    "Query.departments": STAFF,
    "Query.staffRoles": STAFF,
    "Query.staffByDepartment": STAFF,
    "Query.staffAssignments": STAFF,
    "Query.staffCustomers": STAFF,
    "Query.apiTokens": q(CM),
    # -- segments, tags, campaigns, content (the middle office)
    "Query.segments": STAFF,
    "Query.segment": STAFF,
    "Query.segmentExplanation": STAFF,
    "Query.segmentPreview": MIDDLE,
    "Query.segmentLedger": MIDDLE,
    "Query.tagGroups": STAFF,
    "Query.tagGroup": STAFF,
    "Query.campaigns": MIDDLE,
    "Query.campaign": MIDDLE,
    "Query.campaignDryRun": MIDDLE,
    "Query.campaignSends": MIDDLE,
    "Query.campaignGroups": MIDDLE,
    "Query.customerGroups": MIDDLE,
    "Query.contactPolicy": MIDDLE,
    "Query.holidays": MIDDLE,
    "Query.chatScripts": STAFF,
    "Query.chatScript": STAFF,
    "Query.scriptScenarios": STAFF,
    "Query.referralCampaigns": MIDDLE,
    "Query.referralCampaign": MIDDLE,
    "Query.referralLeaderboard": MIDDLE,
    "Query.couponLedger": MIDDLE,
    "Query.sops": MIDDLE,
    "Query.contentPieces": MIDDLE,
    "Query.contentFigures": MIDDLE,
    "Query.contentCadence": MIDDLE,
    "Query.sop": MIDDLE,
    "Query.activities": STAFF,
    "Query.activity": STAFF,
    # -- the product library and content (figures only, no personal data)
    "Query.productCategories": STAFF,
    "Query.products": STAFF,
    "Query.product": STAFF,
    "Query.productSales": STAFF,
    "Query.channelCodes": STAFF,
    "Query.channelCode": STAFF,
    # -- reports, KPIs, supervision
    "Query.kpiCatalogue": STAFF,
    "Query.staffKpis": STAFF,
    "Query.leaderboard": STAFF,
    "Query.dailyReports": STAFF,
    "Query.targets": STAFF,
    "Query.workingHours": STAFF,
    "Query.marketingTasks": STAFF,
    "Query.marketingTask": STAFF,
    "Query.sensitiveLexicon": q(CM, DM),
    "Query.staffAlerts": q(CM, DM, FL),
    "Query.staffAlert": q(CM, DM, FL),
    "Query.sensitiveMessage": q(CM, DM),
    "Query.quarantinedEvents": q(CM),
    "Subscription.leaderboardChanged": STAFF,
    # -- ingestion and identity
    "Mutation.recordCustomerEvents": m(CM, SV),
    "Mutation.mergeCustomers": m(CM, SV),
    "Mutation.unmergeCustomer": m(CM, SV),
    # -- staff admin (a department manager: their own department only)
    "Mutation.hireStaff": m(CM, DM),
    "Mutation.leaveStaff": m(CM, DM),
    "Mutation.moveStaff": m(CM, DM),
    "Mutation.changeStaffRole": m(CM, DM),
    "Mutation.handOverCustomers": m(CM, DM),
    "Mutation.revokeApiToken": m(CM),
    # -- the middle office
    "Mutation.defineSegment": m(CM, OP),
    "Mutation.reviseSegment": m(CM, OP),
    "Mutation.setSegmentAutoTag": m(CM, OP),
    "Mutation.archiveSegment": m(CM, OP),
    "Mutation.createTagGroup": m(CM, OP),
    "Mutation.renameTagGroup": m(CM, OP),
    "Mutation.addTagsToGroup": m(CM, OP),
    "Mutation.removeTagFromGroup": m(CM, OP),
    "Mutation.archiveTagGroup": m(CM, OP),
    "Mutation.draftCampaign": m(CM, OP),
    "Mutation.launchCampaign": m(CM, OP),
    "Mutation.draftGroupCampaign": m(CM, OP),
    "Mutation.scheduleCampaign": m(CM, OP),
    "Mutation.cancelCampaign": m(CM, OP),
    "Mutation.setContactPolicy": m(CM, OP),
    "Mutation.defineHoliday": m(CM, OP),
    "Mutation.removeHoliday": m(CM, OP),
    "Mutation.setCampaignConfirmationDeadline": m(CM, OP),
    "Mutation.planActivity": m(CM, OP),
    # -- privacy and customers as clients (docs/privacy.md): the staff fields narrow to
    # company managers and privacy officers in their resolvers, the customer fields to self
    "Query.customerDataExport": q(CM, FL),
    "Query.exportMyData": q(CU),
    "Query.invitableReferralCampaigns": q(CU),
    "Mutation.eraseCustomer": m(CM, FL),
    "Mutation.recordMyEvents": m(CU),
    "Mutation.loginWithWeChat": frozenset(),
    "Mutation.reviseActivity": m(CM, OP),
    # the product library: narrowed to product operators in the resolvers; content: to
    # content operators and copywriters
    "Mutation.defineProductCategory": m(CM, OP),
    "Mutation.putProduct": m(CM, OP),
    "Mutation.importProducts": m(CM, OP),
    "Mutation.delistProduct": m(CM, OP),
    "Mutation.relistProduct": m(CM, OP),
    "Mutation.publishContent": m(CM, OP),
    "Mutation.withdrawContent": m(CM, OP),
    "Mutation.setContentCadence": m(CM, OP),

    "Mutation.cancelActivity": m(CM, OP),
    "Mutation.createChannelCode": m(CM, OP),
    "Mutation.updateChannelCode": m(CM, OP),
    "Mutation.deleteChannelCode": m(CM, OP),
    "Mutation.createChatScript": m(CM, OP, FL),
    "Mutation.reviseChatScript": m(CM, OP, FL),
    "Mutation.archiveChatScript": m(CM, OP, FL),
    "Mutation.draftReferralCampaign": m(CM, OP),
    "Mutation.activateReferralCampaign": m(CM, OP),
    "Mutation.endReferralCampaign": m(CM, OP),
    "Mutation.issueCoupon": m(CM, OP),
    "Mutation.defineSop": m(CM, OP),
    "Mutation.reviseSop": m(CM, OP),
    "Mutation.pauseSop": m(CM, OP),
    "Mutation.resumeSop": m(CM, OP),
    "Mutation.archiveSop": m(CM, OP),
    # -- working with customers
    "Mutation.tagCustomer": m(CM, DM, OP, FL),
    "Mutation.untagCustomer": m(CM, DM, OP, FL),
    "Mutation.recordScriptUse": m(CM, DM, FL),
    "Mutation.inviteCode": m(CM, DM, OP, FL, CU),
    "Mutation.redeemCouponCode": m(CM, DM, OP, FL, SV),
    # -- supervision, tasks, targets
    "Mutation.defineSensitiveCategory": m(CM),
    "Mutation.addSensitiveTerms": m(CM),
    "Mutation.removeSensitiveTerm": m(CM),
    "Mutation.acknowledgeAlert": m(CM, DM, FL),
    "Mutation.resolveAlert": m(CM, DM, FL),
    "Mutation.assignMarketingTask": m(CM, DM),
    "Mutation.reassignMarketingTask": m(CM, DM),
    "Mutation.cancelMarketingTask": m(CM, DM),
    "Mutation.completeMarketingTask": m(CM, DM, OP, FL),
    "Mutation.setTarget": m(CM, DM),
    "Mutation.removeTarget": m(CM, DM),
    "Mutation.setWorkingHours": m(CM),
    "Query.funnel": MIDDLE,
    "Query.cohortRetention": MIDDLE,
    "Query.departmentFunnel": MIDDLE | q(DM),
    "Query.satisfaction": STAFF,
    "Query.campaignPreview": MIDDLE,
    "Query.momentTask": STAFF,
    "Query.momentTasks": STAFF,
    "Query.momentTaskPlan": q(CM, OP),
    "Mutation.addStarterSensitiveTerms": m(CM),
    "Mutation.createMomentTask": m(CM, OP),
    "Mutation.cancelMomentTask": m(CM, OP),
    "Mutation.recordMomentsPosted": m(CM, SV),
    "Query.kpiLineage": STAFF,
    "Query.managerOverview": q(CM, DM),
}

#: Fields below the root that a resolver guards with :func:`require` (a type's other
#: fields are readable by whoever may reach the type).
NESTED: dict[str, frozenset[Access]] = {
    "Segment.entries": MIDDLE,  # the ledger, like Query.segmentLedger
}

#: Routes outside GraphQL: the segment members' CSV (no personal data in it).
EXPORTERS = frozenset({CM, OP, AU})


#: Fields anyone may call, without a token: the login that gives a customer one (only this
#: operation passes the gate without a token: api/login_gate.py).
PUBLIC = frozenset({"Mutation.loginWithWeChat"})
