//! The tables, as diesel sees them: one schema for both backends (portable types only).

diesel::table! {
    products (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    rule_sets (id) {
        id -> Text,
        name -> Text,
        seats -> Integer,
        deactivation_allowed -> Bool,
        offline_allowed -> Bool,
        initial_credits -> Integer,
        blocking_days -> Integer,
        replenish_credits -> Integer,
        replenish_every_days -> Integer,
        credit_cap -> Integer,
        emergency_days -> Integer,
        emergency_per_year -> Integer,
        checkin_interval_days -> Nullable<Integer>,
        checkin_grace_days -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    items (id) {
        id -> Text,
        sku -> Text,
        product_id -> Text,
        rule_set_id -> Text,
        name -> Text,
        license_model -> Text,
        duration_days -> Nullable<Integer>,
        features -> Text,
        version_min -> Integer,
        version_max -> Nullable<Integer>,
        created_at -> Timestamp,
        self_service -> Bool,
        upgrade_from -> Text,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        customer_number -> Nullable<Text>,
        created_at -> Timestamp,
        password_hash -> Nullable<Text>,
        email_verified_at -> Nullable<Timestamp>,
        language -> Text,
        sso_issuer -> Nullable<Text>,
        sso_subject -> Nullable<Text>,
        name_folded -> Nullable<Text>,
        marketing_consent -> Text,
        marketing_consent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Text,
        code -> Text,
        customer_id -> Nullable<Text>,
        registered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        shop -> Text,
        external_number -> Text,
        ticket_id -> Text,
        customer_id -> Nullable<Text>,
        created_at -> Timestamp,
        cancelled_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Text,
        order_id -> Text,
        line_number -> Integer,
        item_id -> Text,
        quantity -> Integer,
        created_at -> Timestamp,
        upgraded_license_id -> Nullable<Text>,
        upgraded_from_item_id -> Nullable<Text>,
        upgraded_from_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    licenses (id) {
        id -> Text,
        ticket_id -> Text,
        order_line_id -> Text,
        item_id -> Text,
        starts_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoke_reason -> Nullable<Text>,
        lock_version -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    machines (id) {
        id -> Text,
        public_key -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    activations (id) {
        id -> Text,
        license_id -> Text,
        machine_id -> Text,
        state -> Text,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        fingerprint -> Nullable<Text>,
        rebound_at -> Nullable<Timestamp>,
        previous_machine_id -> Nullable<Text>,
        emergency_until -> Nullable<Timestamp>,
        converted_at -> Nullable<Timestamp>,
        stands_for -> Nullable<Text>,
        last_checkin_at -> Nullable<Timestamp>,
        last_proof_ms -> Nullable<BigInt>,
        client_version -> Nullable<Text>,
        client_os -> Nullable<Text>,
        client_os_version -> Nullable<Text>,
        client_arch -> Nullable<Text>,
        client_locale -> Nullable<Text>,
    }
}

diesel::table! {
    credit_grants (id) {
        id -> Text,
        license_id -> Text,
        amount -> Integer,
        reason -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Text,
        kind -> Text,
        subject_type -> Text,
        subject_id -> Text,
        license_id -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        actor -> Text,
        channel -> Text,
        data -> Text,
        at -> Timestamp,
        feed_pos -> Nullable<BigInt>,
    }
}

diesel::table! {
    demo_claims (product_id, claimant) {
        product_id -> Text,
        claimant -> Text,
        license_id -> Text,
        customer_id -> Nullable<Text>,
        claimed_at -> Timestamp,
        converted_order_id -> Nullable<Text>,
    }
}

diesel::table! {
    usage_sessions (id) {
        id -> Text,
        activation_id -> Text,
        version -> Text,
        os -> Text,
        started_at -> Timestamp,
        last_seen_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    usage_days (activation_id, day, version) {
        activation_id -> Text,
        day -> Timestamp,
        version -> Text,
        os -> Text,
        checkins -> Integer,
        sessions -> Integer,
        seconds -> BigInt,
    }
}

diesel::table! {
    usage_session_lengths (day, item_id, version, os, bucket) {
        day -> Timestamp,
        item_id -> Text,
        version -> Text,
        os -> Text,
        bucket -> BigInt,
        sessions -> Integer,
    }
}

diesel::joinable!(items -> products (product_id));
diesel::joinable!(items -> rule_sets (rule_set_id));
diesel::joinable!(orders -> tickets (ticket_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_lines -> items (item_id));
diesel::joinable!(licenses -> items (item_id));
diesel::joinable!(licenses -> tickets (ticket_id));
diesel::joinable!(activations -> licenses (license_id));
diesel::joinable!(activations -> machines (machine_id));
diesel::joinable!(usage_sessions -> activations (activation_id));
diesel::joinable!(usage_days -> activations (activation_id));
diesel::joinable!(demo_claims -> products (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    products,
    rule_sets,
    items,
    customers,
    tickets,
    orders,
    order_lines,
    licenses,
    machines,
    activations,
    credit_grants,
    api_keys,
    events,
    sessions,
    secrets,
    idempotency_keys,
    signing_keys,
    used_files,
    one_time_tokens,
    outbox,
    rate_counters,
    demo_claims,
    usage_sessions,
    usage_days,
    usage_session_lengths,
    webhook_endpoints,
    webhook_deliveries,
    webhook_attempts,
    webhook_feed,
    event_feed,
    releases,
    artifacts,
    downloads,
    offers,
    offer_views,
    coupon_pools,
    rewards,
    bonus_ledger,
    coupons,
    consent_history,
    segments,
);

diesel::table! {
    sessions (id) {
        id -> Text,
        family_id -> Text,
        customer_id -> Nullable<Text>,
        ticket_id -> Nullable<Text>,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Integer,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        seed -> Text,
        public_key -> Text,
        is_current -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    used_files (nonce) {
        nonce -> Text,
        kind -> Text,
        activation_id -> Text,
        used_at -> Timestamp,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Text,
        purpose -> Text,
        customer_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        list_unsubscribe -> Nullable<Text>,
    }
}

diesel::table! {
    rate_counters (key) {
        key -> Text,
        count -> Integer,
        window_start -> Timestamp,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        url -> Text,
        description -> Text,
        event_kinds -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        event_kind -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claim -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, at) {
        delivery_id -> Text,
        at -> Timestamp,
        status -> Nullable<Integer>,
        error -> Nullable<Text>,
        latency_ms -> Integer,
    }
}

diesel::table! {
    event_feed (id) {
        id -> Integer,
        last -> BigInt,
    }
}

diesel::table! {
    webhook_feed (name) {
        name -> Text,
        position -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::table! {
    releases (id) {
        id -> Text,
        product_id -> Text,
        version -> Text,
        major -> Integer,
        channel -> Text,
        notes_en -> Text,
        notes_de -> Text,
        state -> Text,
        rollout_percent -> Integer,
        keep_downloadable -> Bool,
        yank_reason -> Nullable<Text>,
        published_at -> Nullable<Timestamp>,
        yanked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    artifacts (id) {
        id -> Text,
        release_id -> Text,
        os -> Text,
        arch -> Text,
        file_name -> Text,
        media_type -> Text,
        size -> BigInt,
        sha256 -> Text,
        min_os_version -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    downloads (id) {
        id -> Text,
        artifact_id -> Text,
        release_id -> Text,
        license_id -> Text,
        customer_id -> Nullable<Text>,
        ticket_id -> Nullable<Text>,
        activation_id -> Nullable<Text>,
        os -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(releases -> products (product_id));
diesel::joinable!(artifacts -> releases (release_id));
diesel::joinable!(downloads -> artifacts (artifact_id));

diesel::table! {
    offers (id) {
        id -> Text,
        kind -> Text,
        rule -> Text,
        title_en -> Text,
        title_de -> Text,
        text_en -> Text,
        text_de -> Text,
        link -> Nullable<Text>,
        coupon_code -> Nullable<Text>,
        priority -> Integer,
        max_days_shown -> Nullable<Integer>,
        starts_at -> Timestamp,
        ends_at -> Nullable<Timestamp>,
        withdrawn_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    offer_views (offer_id, customer_id) {
        offer_id -> Text,
        customer_id -> Text,
        days_shown -> Integer,
        last_shown_on -> Nullable<Timestamp>,
        first_shown_at -> Nullable<Timestamp>,
        clicked_at -> Nullable<Timestamp>,
        dismissed_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(offer_views -> offers (offer_id));

diesel::table! {
    coupon_pools (id) {
        id -> Text,
        name -> Text,
        points_price -> Nullable<Integer>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    rewards (id) {
        id -> Text,
        name -> Text,
        shop -> Nullable<Text>,
        product_id -> Nullable<Text>,
        grant_kind -> Text,
        points -> Nullable<Integer>,
        pool_id -> Nullable<Text>,
        entitlement -> Nullable<Text>,
        ends_at -> Nullable<Timestamp>,
        withdrawn_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    bonus_ledger (id) {
        id -> Text,
        customer_id -> Text,
        kind -> Text,
        reward_id -> Nullable<Text>,
        ticket_id -> Nullable<Text>,
        points -> Integer,
        pool_id -> Nullable<Text>,
        entitlement -> Nullable<Text>,
        shop -> Nullable<Text>,
        reference -> Nullable<Text>,
        reversed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    coupons (id) {
        id -> Text,
        pool_id -> Text,
        code -> Text,
        ledger_id -> Nullable<Text>,
        handed_out_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(coupons -> coupon_pools (pool_id));
diesel::joinable!(rewards -> coupon_pools (pool_id));

diesel::table! {
    consent_history (id) {
        id -> Text,
        customer_id -> Text,
        state -> Text,
        method -> Text,
        email -> Text,
        source_address -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    segments (id) {
        id -> Text,
        name -> Text,
        rule -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
