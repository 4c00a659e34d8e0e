"""Reports (ddvo_tf/evaluation/reports.py): the Markdown table's layout, files written whole."""
import os

from ddvo_tf.evaluation.reports import markdown_table, write_files


def test_a_markdown_table_has_a_header_a_separator_and_a_row_per_method():
    table = markdown_table(["abs_rel", "rmse"], [("ours", ["0.100", "4.00"]), ("paper", ["0.151", "5.58"])])
    assert table.splitlines() == ["| method | abs_rel | rmse |", "| --- | --- | --- |",
                                  "| ours | 0.100 | 4.00 |", "| paper | 0.151 | 5.58 |"]


def test_report_files_are_written_whole_into_a_new_folder(tmp_path):
    write_files(str(tmp_path / "reports" / "run"), {"a.json": "{}\n", "a.md": "# a\n"})
    folder = tmp_path / "reports" / "run"
    assert sorted(os.listdir(folder)) == ["a.json", "a.md"] and (folder / "a.md").read_text() == "# a\n"
