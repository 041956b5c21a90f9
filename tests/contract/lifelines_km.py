"""Kaplan-Meier curves computed by lifelines (KaplanMeierFitter), the independent reference
for keyport-core's estimator (crates/keyport-core/tests/lifelines.rs runs this and compares).

Prints one JSON document: a list of data sets, each with its durations and event flags and
what lifelines computes from them: the timeline, the survival estimate, the 95% bounds
(exponential Greenwood, lifelines' default), the median and its interval, and the
restricted mean up to a horizon. Data sets have ties and heavy censoring; some end in an
event (the curve reaches 0), most do not.
"""

import json
import math
import random

from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times, restricted_mean_survival_time


def finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def data_sets():
    rng = random.Random(20261130)
    for n, censor_share, ties in [
        (5, 0.2, True), (12, 0.5, True), (40, 0.8, True), (100, 0.3, True), (300, 0.9, True),
        (60, 0.5, False), (250, 0.1, False), (33, 0.0, True), (80, 0.95, True), (150, 0.6, False),
    ]:
        durations, events = [], []
        for _ in range(n):
            life = rng.expovariate(1 / 400.0)
            d = float(round(life / 30.0)) * 30.0 if ties else life
            durations.append(max(d, 0.0))
            events.append(rng.random() >= censor_share)
        yield durations, events


out = []
for durations, events in data_sets():
    kmf = KaplanMeierFitter(alpha=0.05).fit(durations, event_observed=events)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    lower = ci.iloc[:, 0].tolist()
    upper = ci.iloc[:, 1].tolist()
    med = median_survival_times(kmf.confidence_interval_)
    tau = float(sorted(durations)[len(durations) * 3 // 4])
    out.append({
        "durations": durations,
        "events": events,
        "timeline": [float(t) for t in sf.index],
        "survival": [float(s) for s in sf.tolist()],
        "lower": [float(x) for x in lower],
        "upper": [float(x) for x in upper],
        "median": finite(kmf.median_survival_time_),
        "median_interval": [finite(med.iloc[0, 0]), finite(med.iloc[0, 1])],
        "tau": tau,
        "restricted_mean": float(restricted_mean_survival_time(kmf, t=tau)),
    })
print(json.dumps(out))
