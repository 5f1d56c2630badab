"""The camera model's search of `noisegen calibrate` (steps 1-5 of noisegen.analysis.calibrate.fit's docstring):
curve, demosaicing and JPEG by simulation, and in-camera noise reduction when asked for. The camera family of the
model selection (noisegen.analysis.calibrate.candidates) and `calibrate --fast` are this search.
"""

from __future__ import annotations

from collections.abc import Callable

from noisegen.analysis.calibrate.report import Candidate
from noisegen.analysis.calibrate.search import Search

__all__ = ["search_camera"]


def search_camera(search: Search, jpegs, echo: Callable[[str], None]) -> tuple:
    """Steps 1-4 of the module docstring (and step 5, noise reduction, when config.nr asks for it): the camera
    model's curve, demosaicing, JPEG and σ. Returns simulate_fit's (candidate, parts, corrections)."""
    config = search.config
    ranked: dict[str, list[Candidate]] = {}
    for dm in config.demosaic:
        ranked[dm] = sorted((search.analytic(crf, dm) for crf in search.curves), key=lambda c: c.loss)
        echo(f"step 1 (analytic), demosaic {dm}: "
             + ", ".join(f"{c.crf} {c.loss:.2e}" for c in ranked[dm][:config.top_k]))

    curve_for = {dm: ranked[dm][0].crf for dm in config.demosaic}
    chosen = None
    for round_ in range(2):
        best = None
        for dm in config.demosaic:
            prev = None  # converged σ of the previous JPEG option: a close start for the next
            for q, sub in jpegs:
                cand = search.simulate_fit(curve_for[dm], dm, q, prev, "search", full=False, subsampling=sub)[0]
                prev = cand.sigma
                if best is None or cand.loss < best.loss:
                    best = cand
        echo(f"step 2 (demosaic, JPEG) with {', '.join(sorted(set(curve_for.values())))}: demosaic {best.demosaic}, "
             f"JPEG {best.jpeg} {best.subsampling}, loss {best.loss:.3e}")
        if chosen is not None and (best.demosaic, best.jpeg, best.subsampling) == (
                chosen[0].demosaic, chosen[0].jpeg, chosen[0].subsampling):
            break  # the curve found with this demosaicing and JPEG confirms them
        # Step 3: every curve with that demosaicing and JPEG, by simulation on the search subset (the
        # analytic model cannot rank curves here: what it misses, JPEG and the signal's demosaicing
        # error, depends on the curve), each started from the analytic fit corrected as the best
        # configuration was; then the best top_k on all crops.
        sub = best.subsampling
        hint = search.simulate_fit(best.crf, best.demosaic, best.jpeg, None, "search", full=False,
                                   subsampling=sub)[2]
        subset_rank = sorted((search.simulate_fit(crf, best.demosaic, best.jpeg, None, "curve-search", full=False,
                                                  hint=hint, subsampling=sub)[0] for crf in search.curves),
                             key=lambda c: c.loss)
        echo("step 3 (curves, subset): " + ", ".join(f"{c.crf} {c.loss:.2e}" for c in subset_rank[:config.top_k]))
        chosen = min((search.simulate_fit(a.crf, best.demosaic, best.jpeg, a.sigma, "curve", full=True,
                                          subsampling=sub)
                      for a in subset_rank[:config.top_k]), key=lambda r: r[0].loss)
        echo(f"step 4 (curve, all crops): {chosen[0].crf}, loss {chosen[0].loss:.3e}")
        # second round: demosaicing and JPEG again, with the curve just found
        curve_for = {dm: chosen[0].crf for dm in config.demosaic}
    if config.nr != (None,):
        chosen = _noise_reduction(search, config, chosen[0], jpegs, echo)
    return chosen


def _noise_reduction(search: Search, config, base: Candidate, jpegs, echo) -> tuple:
    """Step 5: in-camera noise reduction. With the curve and demosaicing found, every NR candidate (and off) on
    the search subset, started from the chosen σ; when one wins, the JPEG options again with it (NR and JPEG
    both smooth the noise); then the winner on all crops."""
    def fit(nr, q, sub):
        return search.simulate_fit(base.crf, base.demosaic, q, base.sigma, "nr", full=False, nr=nr,
                                   subsampling=sub)[0]

    best = min((fit(nr, base.jpeg, base.subsampling) for nr in config.nr), key=lambda c: c.loss)
    if best.nr is not None and len(jpegs) > 1:
        best = min([best] + [fit(best.nr, q, sub) for q, sub in jpegs], key=lambda c: c.loss)
    echo(f"step 5 (noise reduction, subset): {'off' if best.nr is None else best.nr}, JPEG {best.jpeg} "
         f"{best.subsampling}, loss {best.loss:.3e}")
    return search.simulate_fit(base.crf, base.demosaic, best.jpeg, best.sigma, "nr-final", full=True, nr=best.nr,
                               subsampling=best.subsampling)
