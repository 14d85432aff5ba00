"""Results stores: what a search appends is what it replays on resume, in both formats, for any declared metric."""

from pathlib import Path

import numpy as np
import pytest

from neural_nas.config.search_space import SearchSpace
from neural_nas.errors import ResultsFileError
from neural_nas.measurements import Metric, metric_registry
from neural_nas.results.csv_store import CsvStore
from neural_nas.results.dynast_csv import HEADER, ResultsCsv
from neural_nas.results.journal_store import JournalStore
from neural_nas.results.study import Study, Trial
from neural_nas.supernets import create_supernet
from tests.synthetic_supernet import Synthetic


def test_journal_store_replays_trials_and_failures(tmp_path):
    space = SearchSpace({"w": [1, 2, 3], "d": [[1, 2], [3]]})
    store = JournalStore(tmp_path / "results.jsonl", space)
    store.append_trial(Trial({"w": 1, "d": [1, 2]}, {"acc": 0.5, "size": 3.0}, params=10))
    store.append_failure({"w": 2, "d": [3]}, "RuntimeError: boom")
    again = Study(["acc", "size"], [True, False])
    assert JournalStore(store.path, space).replay(again) == 1
    assert again.trials == [Trial({"w": 1, "d": [1, 2]}, {"acc": 0.5, "size": 3.0}, params=10)]
    assert again.failures == [{"w": 2, "d": [3]}] and again.spent() == 2
    retry = Study(["acc", "size"])
    JournalStore(store.path, space).replay(retry, retry_failed=True)
    assert retry.failures == [] and retry.spent() == 1
    outside = Study(["acc", "size"])  # another search space: kept on disk, not used
    assert JournalStore(store.path, SearchSpace({"w": [5]})).replay(outside) == 0 and outside.spent() == 0


def test_journal_store_learns_the_metric_names_from_the_file(tmp_path):
    store = JournalStore(tmp_path / "r.jsonl", None)
    store.append_trial(Trial({"w": 1}, {"metric_0": 1.0, "metric_1": 2.0}))
    study = Study(None, [True, False])
    store.replay(study)
    assert study.metric_names == ["metric_0", "metric_1"] and study.higher_is_better == [True, False]


def test_csv_columns_come_from_the_metric_declarations(tmp_path):
    with metric_registry.scoped():
        metric_registry.add(Metric("energy", "Energy (mJ)", False, "mJ", aliases=("joules",)))
        assert metric_registry.canonical("joules") == "energy"
        supernet = Synthetic()
        store = CsvStore(tmp_path / "r.csv", supernet, ["accuracy_top1", "energy"])
        assert store.csv.header() == HEADER + ["Energy (mJ)"]  # the DyNAS-T columns first, in their order
        subnet = supernet.encoding.vector_to_dict([0] * 12)
        store.append_trial(Trial(subnet, {"accuracy_top1": 50.0, "macs": 1e6, "energy": 0.25}))
        study = Study(["accuracy_top1", "energy"], [True, False])
        assert CsvStore(store.path, supernet, ["accuracy_top1", "energy"]).replay(study) == 1
        assert study.trials[0].metrics == {"accuracy_top1": 50.0, "macs": 1e6, "energy": 0.25}
    assert "energy" not in metric_registry  # scoped: gone after the block


def test_a_csv_column_nobody_declared_is_a_results_file_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Sub-network,Date,Top-1 Acc (%),Energy (mJ)\n")
    with pytest.raises(ResultsFileError, match="Energy.*metric_registry.add"):
        CsvStore(path, Synthetic(), ["accuracy_top1"])


def test_a_file_without_a_column_for_a_searched_metric_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("Sub-network,Date,Top-1 Acc (%)\n")
    with pytest.raises(ResultsFileError, match="latency missing"):
        CsvStore(path, Synthetic(), ["accuracy_top1", "latency"])


def test_a_file_in_another_column_layout_resumes_and_keeps_its_layout(tmp_path):
    """Blank lines before the header and padded names (INC 2.0's five columns): read by header, appended alike."""
    net = create_supernet("ofa_mbv3_d234_e346_k357_w1.0")
    vector = net.encoding.random_vectors(1, 0)[0]
    subnet = net.encoding.vector_to_dict(vector)
    macs = int(net.exact_metrics(vector[None, :])["macs"][0])
    path = tmp_path / "inc.csv"
    path.write_text(
        f'\r\nSub-network,Date,Latency (ms), MACs,Top-1 Acc (%)\r\n"{net.subnet_record(subnet)}",d,0,{macs},71.5\r\n'
    )
    store = CsvStore(path, net, ["accuracy_top1", "macs"])
    study = Study(["accuracy_top1", "macs"], [True, False])
    assert store.replay(study) == 1 and study.trials[0].metrics["accuracy_top1"] == 71.5
    other = net.encoding.vector_to_dict(net.encoding.random_vectors(1, 1)[0])
    store.append_trial(Trial(other, {"accuracy_top1": 70.0, "macs": 5.0, "params": 7.0}))
    rows = ResultsCsv(path).read(net.parse_record)
    assert len(rows) == 2 and rows[1].metrics == {"accuracy_top1": 70.0, "macs": 5.0}  # no params column in this file
    assert len(path.read_text().strip().splitlines()[-1].split('",')[1].split(",")) == 4  # date + the file's 3 metrics


def test_the_reference_notebooks_w12_results_resume_with_every_macs_value_reproduced():
    """INC 2.0's five columns with a padded ` MACs`: every row loads, and its MACs equal the library's exact count
    (a single mismatch would be a ResultsFileError naming the row)."""
    path = Path(__file__).parent / "data" / "inc_dynas_notebook_results" / "results_mbnv3w1p2_macs.csv"
    net = create_supernet("ofa_mbv3_d234_e346_k357_w1.2")
    store = CsvStore(path, net, ["accuracy_top1", "macs"])
    assert store.csv.metric_columns == ["latency", "macs", "accuracy_top1"]
    study = Study(["accuracy_top1", "macs"], [True, False])
    rows = ResultsCsv(path).read(net.parse_record)
    vectors = np.stack([net.encoding.dict_to_vector(r.subnet) for r in rows])
    networks = {tuple(v) for v in net.canonical(vectors)}  # rows under other genes of blocks that never run: one
    assert store.replay(study) == len(networks) == 460 and len(rows) >= 499
    assert all(74 < t.metrics["accuracy_top1"] < 80 and 2.0e8 < t.metrics["macs"] < 5.9e8 for t in study.trials)


def test_a_column_is_found_under_the_other_headers_the_reference_wrote():
    assert metric_registry.by_column(" MACS ").name == metric_registry.by_column("MACs").name == "macs"
    assert metric_registry.by_column("Energy (mJ)") is None


def test_errors_name_the_line_of_the_file_even_after_blank_lines(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\n\nSub-network,Date,Top-1 Acc (%)\n\"{'a': [0]}\",d,five\n")
    with pytest.raises(ResultsFileError, match=r"r.csv:4.*finite number"):
        ResultsCsv(path, ["accuracy_top1"]).read(lambda text: {"a": [0]})


def test_rows_know_their_line_and_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xef\xbb\xbf\nSub-network,Date,MACs\n\"{'a': [0]}\",d,1000\n\n\"{'a': [1]}\",d,2000\n")
    rows = ResultsCsv(path).read(lambda text: {"a": [0]})
    assert [(r.line, r.metrics["macs"]) for r in rows] == [(3, 1000.0), (5, 2000.0)]


@pytest.mark.parametrize(("value", "line"), [("53.1", 3), ("-7", 3)])
def test_a_stored_value_no_measurement_can_give_names_its_line(tmp_path, value, line):
    """An SST-2 accuracy is a fraction: 53.1 (a percentage) or -7 would train the predictors, sit on the front and be
    exported; the file is refused at the line that holds it."""
    from neural_nas.plotting import load_results

    path = tmp_path / "bert.csv"
    rows = ["Sub-network,Date,Model Parameters,Latency (ms),MACs,SST-2 Acc", "\"{'d': [0]}\",t,0,0,1e9,0.9"]
    rows.append(f"\"{{'d': [1]}}\",t,0,0,2e9,{value}")
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(
        ResultsFileError, match=rf"bert.csv:{line}: expected a number in \[0, 1\] in column 'SST-2 Acc'"
    ):
        load_results(path)


def test_a_measured_value_out_of_its_metrics_range_fails_that_measurement():
    from neural_nas import NAS
    from neural_nas.errors import MeasurementError
    from neural_nas.supernets import supernet_registry
    from tests.synthetic_supernet import config

    class Percent(Synthetic):
        name = "percent_for_tests"

        def measure(self, subnet, metrics):
            return {**super().measure(subnet, metrics), "accuracy_top1": 140.0}

    with supernet_registry.scoped():
        supernet_registry.register(Percent.name, Percent)
        agent = NAS(config(Percent.name, ("acc", "macs")))
        with pytest.raises(MeasurementError, match=r"'accuracy_top1' is 140, not a number in \[0, 100\]"):
            agent.estimate(agent.supernet.encoding.vector_to_dict([0] * agent.supernet.encoding.n_genes))
