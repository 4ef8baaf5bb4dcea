set terminal pngcairo size 800,480 font 'sans,10'
set output "fig2.png"
set title "Figure 2: CPU use per guest, guest 5 at nice −20 (config 3)"
set grid
set style fill solid 0.6 border -1
set key outside right
set xlabel "seconds since the guests started"
set ylabel "host CPU (% of one core)"
set yrange [0:*]
plot "fig2.dat" using 1:5:6 with filledcurves title "g5", \
  "fig2.dat" using 1:4:5 with filledcurves title "g4", \
  "fig2.dat" using 1:3:4 with filledcurves title "g3", \
  "fig2.dat" using 1:2:3 with filledcurves title "g2", \
  "fig2.dat" using 1:(0):2 with filledcurves title "g1"
