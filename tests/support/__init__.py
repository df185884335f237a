# Plans for suites that are not about seat limits: the free plan has no limit there.
UNLIMITED_PLANS = "free::,pro:price_pro_monthly:25"
