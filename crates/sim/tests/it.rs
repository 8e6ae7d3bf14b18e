//! Integration tests of `lineup-sim`: a small `model` scenario (library and binary), a small
//! `load` scenario against a spawned `lineup-server`, the same on three instances sharing
//! PostgreSQL, and that load beside each attacker of `lineup-sim attack`.

mod it {
    mod attacks;
    mod load;
    mod model;
    mod postgres;

    use lineup_sim::load::LoadScenario;
    use lineup_sim::stats::StrategyReport;

    /// What a `lineup` row of a load run must show, on one instance or several: slot, result
    /// and claim for winners; slot, result and at most one re-check for the waitlist (a ticket
    /// taken after the draw learns its place in the slot answer itself). No claim reaches the
    /// server before its admission instant (delays round up and the engine adds a few
    /// milliseconds), so none is refused as `not_admitted` and asked again.
    fn assert_lineup_targets(scenario: &LoadScenario, lineup: &StrategyReport) {
        assert_eq!(lineup.name, "lineup");
        assert!(lineup.requests_per_client <= 3.0 + 1e-9, "{lineup:?}");
        let early = scenario.server_metrics["lineup"]
            .get("lineup_requests_total{status=409}")
            .copied()
            .unwrap_or(0.0);
        assert_eq!(early, 0.0, "claims refused as early: {lineup:?}");
        assert_eq!(lineup.shed_total, 0, "{lineup:?}");
        assert!(lineup.fairness >= 0.99, "{lineup:?}");
    }
}
